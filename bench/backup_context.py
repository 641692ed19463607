"""The control-plane context the backup benchmarks run the backup service in.

A real state store and the benchmark's manifest; no proxy, runtime, builder or prober, which
backups, restores, copies and drills do not use; ``backup_service`` wires the backup service
over it with the real data drivers (``shipyard.runtime.data_drivers``). Imported by
``backup.py``, ``backup_pg.py``, ``backup_pg_external.py`` and ``pg_copy.py`` (each puts this
folder last on ``sys.path``, so ``bench/secrets.py`` does not shadow the standard library's
``secrets``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from shipyard.core.records import Owner
from shipyard.engine.context import Context
from shipyard.engine.data.backups import BackupService
from shipyard.home import Paths
from shipyard.manifest.models import Manifest
from shipyard.runtime import data_drivers
from shipyard.state.store import open_store


def backup_context(home: Path, app_dir: Path, manifest: Manifest, **extra: Any) -> Context:
    """A context whose Shipyard home is ``home`` (made here) and app folder ``app_dir``."""
    home.mkdir()
    none = cast(Any, None)
    return Context(
        paths=Paths(home, app_dir),
        store=open_store(home / "state.db"),
        proxy=none,
        runtime=none,
        builder=none,
        prober=none,
        owner=Owner(os.getpid(), 0.0),
        manifest=manifest,
        manifest_text="",
        **extra,
    )


def backup_service(ctx: Context) -> BackupService:
    """The backup service over ``ctx``, with the real data drivers the composition root picks."""
    return BackupService(ctx, data_drivers())
