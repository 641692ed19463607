"""Git checkouts of pushed commits, with git's own transports (a path, ssh://, https://).

A checkout is a fresh repository in a work folder that fetches the pushed branch from the
repository and checks out the pushed commit (detached), so what is built is exactly the
commit the push or the event named. No prompt ever waits for a password
(``GIT_TERMINAL_PROMPT=0``), and each git command has a time limit. Called by
``engine/triggers/pushes.py`` through ``interface.Checkouts``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

from shipyard.drivers.pipeline.interface import Commit
from shipyard.errors import BuildError

FETCH_TIMEOUT = 300.0
CREDENTIALS = re.compile(r"://[^/@\s]+@")  # user:token@ in a URL git echoes


class GitCheckouts:
    def __init__(self, root: Path) -> None:
        self.root = root  # <home>/git: the hosted bare repositories

    def hosted(self, app: str) -> Path:
        return self.root / f"{app}.git"

    def checkout(self, repository: str, branch: str, sha: str, folder: Path) -> Commit:
        self.remove(folder)
        folder.mkdir(parents=True, mode=0o700)
        _git(folder, "init", "-q")
        _git(
            folder, "fetch", "-q", "--no-tags", "--", repository, f"+refs/heads/{branch}:refs/pushed/{branch}"
        )
        _git(folder, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", sha)
        out = _git(folder, "log", "-1", "--format=%H%x00%ct%x00%s")
        found, at, message = out.strip().split("\0")
        return Commit(found, float(at), message)

    def remove(self, folder: Path) -> None:
        if folder.exists():
            for path in folder.rglob("*"):  # git's objects are read-only
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | stat.S_IWUSR)
            shutil.rmtree(folder)


def _git(folder: Path, *args: str) -> str:
    """Run git in ``folder``; its output, or a ``BuildError`` with its last line (no credentials)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/true"}
    argv, limit = ["git", "-C", str(folder), *args], FETCH_TIMEOUT
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=limit, env=env, check=False)
    except FileNotFoundError:
        raise BuildError("git is not installed", "install git (apt-get install git)") from None
    except subprocess.TimeoutExpired:
        late = f"git {args[0]} took longer than {limit:.0f}s"
        raise BuildError(late, "check the repository's address and the network") from None
    if done.returncode == 0:
        return done.stdout
    said = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
    raise BuildError(
        f"git {args[0]} failed: {CREDENTIALS.sub('://***@', said[0])[:300]}",
        "check triggers.repository (or the event's clone URL) and that the commit was pushed",
    )
