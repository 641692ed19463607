"""Builds immutable releases: a snapshot of the source plus its own virtual environment.

Called by the engine's deploy step "build". Dependencies are installed with uv
into a relocatable venv kept in a cache keyed by the hash of the requirements
file (and the Python version), so a build whose dependencies did not change
only copies the source and links the cached venv: seconds, not minutes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from shipyard.core.records import Release
from shipyard.drivers.files import write_json
from shipyard.errors import BuildError
from shipyard.manifest.models import Manifest

SKIP = {
    ".shipyard",
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
}


# Plaintext secrets stay out of releases (a snapshot is kept, read-only, for every release):
# dotenv files and SOPS files. ``build.include_secret_files`` names any the app really needs.
SECRET_FILES = (".env", ".env.*", "*.sops.*", "*.sops", ".sops.yaml")


def is_secret_file(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in SECRET_FILES)


def uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise BuildError("uv is not installed", "pip install uv (a Shipyard dependency)") from None
        return found


class Builder:
    def __init__(self, releases_dir: Path, cache_dir: Path) -> None:
        self.releases_dir = releases_dir
        self.cache_dir = cache_dir

    def build(
        self,
        app_dir: Path,
        manifest: Manifest,
        number: int,
        manifest_text: str,
        warn: Callable[[str], None] = lambda _: None,
    ) -> Release:
        source = (app_dir / manifest.source).resolve()
        if not source.is_dir():
            raise BuildError(
                f"shipyard.yaml: source: folder {source} does not exist",
                "set `source` to the app's folder, relative to shipyard.yaml",
            )
        release_id = f"r{number}"
        final = self.releases_dir / release_id
        work = self.releases_dir / f".{release_id}.building"
        _remove_tree(work)
        _remove_tree(final)
        app = work / "app"
        left_out: list[str] = []
        ignore = _ignore(source, set(manifest.build.include_secret_files), left_out)
        shutil.copytree(source, app, ignore=ignore, symlinks=True)
        if left_out:
            warn(
                "warning: left out of the release (secret files are never snapshotted): "
                f"{', '.join(sorted(left_out))}; "
                "keep secrets in the vault (`shipyard secrets import`), or name a file the app needs "
                "in build.include_secret_files"
            )
        venv, deps_hash = self._venv(app, manifest)
        (work / "venv").symlink_to(venv)
        self._run_commands(app, venv, manifest)
        checksum = tree_checksum(app)  # after the build commands: what instances will run
        write_json(work / "release.json", {"id": release_id, "checksum": checksum, "deps_hash": deps_hash})
        (work / "shipyard.yaml").write_text(manifest_text)
        _make_read_only(app)
        os.replace(work, final)
        return Release(
            id=release_id,
            number=number,
            created_at=time.time(),
            checksum=checksum,
            deps_hash=deps_hash,
            path=str(final),
            manifest=manifest_text,
            source=str(source),
        )

    def _venv(self, app: Path, manifest: Manifest) -> tuple[Path, str]:
        req_name = manifest.build.requirements
        req = app / req_name if req_name else None
        if req is not None and not req.is_file():
            raise BuildError(
                f"shipyard.yaml: build.requirements: {req_name} not found in the source",
                "create it, fix the path, or set `build.requirements: null` for no dependencies",
            )
        digest = hashlib.sha256(f"{sys.version_info[:3]}".encode())
        digest.update(req.read_bytes() if req else b"")
        if manifest.build.pyproject:
            digest.update(tree_checksum(app).encode())
        deps_hash = digest.hexdigest()[:16]
        venv = self.cache_dir / "venvs" / deps_hash
        if (venv / ".complete").exists():
            return venv, deps_hash
        tmp = venv.with_name(f".{deps_hash}.{os.getpid()}")
        _remove_tree(tmp)
        uv = uv_binary()
        self._uv([uv, "venv", "--relocatable", "--python", sys.executable, str(tmp)], manifest)
        py = str(tmp / "bin" / "python")
        if req is not None:
            self._uv([uv, "pip", "install", "--python", py, "-r", str(req)], manifest)
        if manifest.build.pyproject:
            self._uv([uv, "pip", "install", "--python", py, str(app)], manifest)
        (tmp / ".complete").write_text(deps_hash)
        _remove_tree(venv)
        os.replace(tmp, venv)
        return venv, deps_hash

    def _uv(self, argv: list[str], manifest: Manifest) -> None:
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=manifest.build.timeout,
                check=False,
                env={**os.environ, "UV_NO_PROGRESS": "1"},
            )
        except subprocess.TimeoutExpired:
            raise BuildError(
                f"dependency install took longer than build.timeout ({manifest.build.timeout:g}s)",
                "raise `build.timeout` in shipyard.yaml or check the package index is reachable",
            ) from None
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-6:])
            raise BuildError(
                f"dependency install failed:\n{tail}",
                "fix the requirements file (package names and versions), then deploy again; "
                "the serving version is untouched",
            )

    def _run_commands(self, app: Path, venv: Path, manifest: Manifest) -> None:
        env = {
            **os.environ,
            "VIRTUAL_ENV": str(venv),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for i, cmd in enumerate(manifest.build.commands):
            done = subprocess.run(
                ["/bin/sh", "-c", cmd],
                cwd=app,
                env=env,
                capture_output=True,
                text=True,
                timeout=manifest.build.timeout,
                check=False,
            )
            if done.returncode != 0:
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
                raise BuildError(
                    f"shipyard.yaml: build.commands[{i}] `{cmd}` exited {done.returncode}:\n{tail}",
                    "fix the command or the source, then deploy again",
                )


def tree_checksum(root: Path) -> str:
    """sha256 over every file's relative path and bytes, in a stable order.

    Python's byte-code caches are left out: an instance started as root writes them even into
    the read-only snapshot, and they follow from the sources anyway.
    """
    digest = hashlib.sha256()
    files = (p for p in root.rglob("*") if p.is_file() or p.is_symlink())
    for path in sorted(p for p in files if "__pycache__" not in p.parts and p.suffix != ".pyc"):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(os.readlink(path).encode() if path.is_symlink() else path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def remove_release(path: Path) -> None:
    _remove_tree(path)


def _ignore(source: Path, included: set[str], left_out: list[str]) -> Callable[[str, list[str]], set[str]]:
    """copytree's filter: build junk and, unless ``included`` names them, secret files (noted)."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in SKIP or n.endswith((".pyc", ".db", ".db-wal", ".db-shm"))}
        for name in names:
            relative = os.path.relpath(os.path.join(folder, name), source)
            if name not in skipped and is_secret_file(name) and relative not in included:
                skipped.add(name)
                left_out.append(relative)
        return skipped

    return ignore


def _make_read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _remove_tree(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    for p in [path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else []:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
