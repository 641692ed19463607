"""Pipelines: runs of a release's stages and gates (``runs.py``, ``stages.py``) and the
delivery figures of ``shipyard stats`` (``figures.py``)."""
