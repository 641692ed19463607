"""The base of shipyard.yaml's models: frozen, and an unknown key is an error, never ignored.

Subclassed by the root model (``models.py``) and its parts (``strategy.py``, ``config.py``,
``promotion.py``), which import it from here rather than from each other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
