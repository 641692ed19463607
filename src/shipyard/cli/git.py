"""``shipyard git init|receive``: a bare repository per app that a ``git push`` deploys from.

``init`` makes ``<home>/git/<app>.git`` (``git init --bare``) with a ``post-receive`` hook
that runs ``shipyard git receive`` with this home and app folder, and prints the remote to
add: the path on this machine, or ``ssh://HOST/<path>`` through git's own SSH transport.
``receive`` is the hook: for each pushed branch it asks the control plane to build, test and
deploy the commit (``POST /api/triggers/push``, with the token of ``<home>``) and prints the
job's live progress, which git shows the pusher as ``remote:`` lines. A thin edge.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console

from shipyard.cli.jobs import run_job
from shipyard.cli.session import Opts
from shipyard.errors import BuildError, ShipyardError

git_app = typer.Typer(no_args_is_help=True, help="Deploy with `git push` to a repository Shipyard hosts.")
console = Console(soft_wrap=True)
ZERO = "0" * 40
HOOK = """#!/bin/sh
# Shipyard: each pushed branch is built, tested and deployed by its branch rule (triggers.branches).
exec {python} -m shipyard --home {home} --app-dir {app_dir} git receive
"""


def hosted_path() -> Path:
    from shipyard.manifest.loader import FILENAME, load_manifest

    app = load_manifest(Opts.app_dir / FILENAME).app
    return (Opts.home / "git" / f"{app}.git").resolve()


@git_app.command("init")
def init() -> None:
    """Make the app's bare repository with its post-receive hook; print the remote to add."""
    repo = hosted_path()
    if not (repo / "HEAD").exists():
        done = subprocess.run(["git", "init", "-q", "--bare", str(repo)], capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError(
                f"git init --bare {repo} failed: {done.stderr.strip()}", "check that git is installed"
            )
    hook = repo / "hooks" / "post-receive"
    hook.write_text(
        HOOK.format(
            python=shlex.quote(sys.executable),
            home=shlex.quote(str(Opts.home.resolve())),
            app_dir=shlex.quote(str(Opts.app_dir)),
        )
    )
    hook.chmod(0o755)
    console.print(f"hosted repository: {repo}", highlight=False)
    console.print(f"  on this machine: git remote add shipyard {repo}", highlight=False)
    console.print(
        f"  over SSH:        git remote add shipyard ssh://{socket.getfqdn()}{repo}", highlight=False
    )
    console.print("then: git push shipyard main (triggers.branches picks the environment)", highlight=False)


@git_app.command("receive")
def receive() -> None:
    """The post-receive hook: build, test and deploy each pushed branch, printing the progress."""
    failed = False
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("refs/heads/") or parts[1] == ZERO:
            continue  # a tag, or a deleted branch
        branch, sha = parts[2].removeprefix("refs/heads/"), parts[1]
        console.print(f"shipyard: {branch}@{sha[:12]} received", highlight=False)
        try:
            done = run_job("/api/triggers/push", {"branch": branch, "sha": sha})
        except ShipyardError as exc:
            console.print(f"shipyard: {branch} failed: {exc.message}", highlight=False)
            if exc.hint:
                console.print(f"shipyard: try: {exc.hint}", highlight=False)
            failed = True
            continue
        where = (
            f"deployment {done['deployment']} to {done['env']}: {done['status']}"
            if done.get("env")
            else "deployed nowhere"
        )
        console.print(f"shipyard: {branch}@{sha[:12]} is release {done['release']}, {where}", highlight=False)
    if failed:
        raise typer.Exit(1)
