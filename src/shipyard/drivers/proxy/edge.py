"""The shared edge's HAProxy: one more HAProxy process, owned by the control plane, on the shared
HTTP and HTTPS ports (``core/edge_config.py`` renders its configuration).

Called by ``engine/apps/edge.py``. It runs like every environment's HAProxy (``HAProxy``: master-
worker mode in its own session, adopted from its pid file by a restarted control plane, reloaded
hitlessly) in its own folder, ``<home>/edge``, which is also its working folder: the apps'
Unix sockets are named relative to it. A new configuration is checked by ``haproxy -c`` as a
candidate file first; only a good one replaces the running one, so a bad change leaves the edge
serving its last good configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.core.proxy_layout import ProxyLayout
from shipyard.drivers.files import write_atomic
from shipyard.drivers.proxy.haproxy import HAProxy
from shipyard.errors import ProxyError


class EdgeProxy(HAProxy):
    """The edge's process; ``apply`` replaces its whole configuration (a structural change)."""

    def __init__(self, folder: Path, binary: str) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        super().__init__(folder, binary)

    def apply(self, text: str) -> bool:
        """Run ``text``; False when it is what already runs. A ProxyError (HAProxy refused it, or
        it did not start) leaves the running edge and its file as they were."""
        with self._lock:
            if self.is_running() and self._written.get(self.config_path) == text:
                return False
            candidate = self.folder / "haproxy.cfg.new"
            write_atomic(candidate, text, mode=0o600)
            try:
                self._check_config(candidate)
            except ProxyError:
                candidate.unlink(missing_ok=True)
                raise
            os.replace(candidate, self.config_path)
            self._written[self.config_path] = text
            if self.is_running():
                self._reload()
            else:
                self._start(ProxyLayout(()))
            return True
