"""The registered apps of a control plane: ``<home>/apps.json``, name -> the app's folder.

Called by ``engine/apps/service.py`` (``shipyard apps add|list|remove``) and read at start by
the composition root. Written temp-then-rename (``drivers/files.py``), so a crash leaves the old
list or the new one, never half of one. An unreadable file is an error that names it, never an
empty list (which would silently drop every app).
"""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.drivers.files import write_json
from shipyard.errors import StateError


class AppsRegistry:
    def __init__(self, path: Path) -> None:
        self.path = path

    def apps(self) -> dict[str, Path]:
        """Every registered app's folder (the one holding its shipyard.yaml), by name."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StateError(
                f"the apps registry {self.path} is unreadable: {type(exc).__name__}",
                "restore it from a backup, or move it away and add the apps again "
                "(`shipyard apps add NAME PATH`)",
            ) from None
        apps = data.get("apps") if isinstance(data, dict) else None
        if not isinstance(apps, dict):
            raise StateError(
                f"the apps registry {self.path} has no `apps` table",
                "move it away and add the apps again (`shipyard apps add NAME PATH`)",
            )
        return {str(name): Path(str(folder)) for name, folder in apps.items()}

    def add(self, name: str, folder: Path) -> None:
        self._write({**self.apps(), name: folder})

    def remove(self, name: str) -> None:
        self._write({n: f for n, f in self.apps().items() if n != name})

    def _write(self, apps: dict[str, Path]) -> None:
        write_json(self.path, {"apps": {name: str(folder) for name, folder in sorted(apps.items())}})
