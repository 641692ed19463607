"""``shipyard ci export github|gitlab``: write the pipeline of shipyard.yaml as another CI's file.

Reads shipyard.yaml from the app folder (no control plane needed), builds the GitHub Actions
workflow (``core/pipeline/workflow.py``) or the ``.gitlab-ci.yml`` (``core/pipeline/gitlab_ci.py``)
and writes it as YAML in the app folder unless ``--output`` says otherwise, then says which
secret and variable the deploy job reads. A thin edge.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from shipyard.cli.session import Opts
from shipyard.errors import ConflictError, InputError

if TYPE_CHECKING:
    from shipyard.core.pipeline.workflow import Export

ci_app = typer.Typer(no_args_is_help=True, help="Export the pipeline for a CI service you keep.")
export_app = typer.Typer(no_args_is_help=True, help="Write the pipeline as another CI's configuration.")
ci_app.add_typer(export_app, name="export")
console = Console(soft_wrap=True)

EnvOption = Annotated[
    str | None, typer.Option(help="Environment the deploy job deploys; default: the first.")
]
BranchOption = Annotated[str, typer.Option(help="Branch whose pushes run the pipeline.")]


def _export(
    env: str | None, branch: str, output: Path, build: Callable[[str, Export], dict[str, Any]]
) -> str:
    """Load the manifest, check ``--env``, build the mapping and write it; the environment used."""
    import yaml

    from shipyard.core.pipeline.workflow import Export
    from shipyard.drivers.files import write_atomic
    from shipyard.manifest.loader import FILENAME, load_manifest

    manifest = load_manifest(Opts.app_dir / FILENAME)
    if manifest.pipeline is None:
        raise ConflictError(
            f"{FILENAME} has no pipeline to export", "add `pipeline: {stages: {test: {commands: [pytest]}}}`"
        )
    target_env = env or next(iter(manifest.environments))
    if target_env not in manifest.environments:
        raise InputError(
            f"--env: {target_env!r} is not an environment of {FILENAME}",
            f"pick one of {', '.join(manifest.environments)}",
        )
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    pipeline = manifest.pipeline
    spec = Export(pipeline.stages, pipeline.env, target_env, branch, python, manifest.build.requirements)
    try:
        mapping = build(manifest.app, spec)
    except ValueError as exc:
        raise ConflictError(
            f"{FILENAME}: pipeline.stages: {exc}", "rename the stage, then export again"
        ) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(output, yaml.safe_dump(mapping, sort_keys=False), mode=0o644)
    console.print(f"wrote {output}", highlight=False)
    return target_env


@export_app.command("github")
def github(
    env: EnvOption = None,
    branch: BranchOption = "main",
    output: Annotated[
        Path | None,
        typer.Option(help="File to write; default: .github/workflows/shipyard.yml in the app folder."),
    ] = None,
) -> None:
    """A GitHub Actions workflow: a job per stage, then a deploy through Shipyard's API."""
    from shipyard.core.pipeline.workflow import github_workflow

    path = output or Opts.app_dir / ".github" / "workflows" / "shipyard.yml"
    target_env = _export(env, branch, path, github_workflow)
    console.print(
        "in the repository's settings, set the variable SHIPYARD_URL (the control plane's API) and the "
        f"secret SHIPYARD_DEPLOY_TOKEN (a token of a user with the deployer role on {target_env})",
        highlight=False,
    )


@export_app.command("gitlab")
def gitlab(
    env: EnvOption = None,
    branch: BranchOption = "main",
    output: Annotated[
        Path | None, typer.Option(help="File to write; default: .gitlab-ci.yml in the app folder.")
    ] = None,
) -> None:
    """A .gitlab-ci.yml: a job per stage (needs kept), then a deploy through Shipyard's API."""
    from shipyard.core.pipeline.gitlab_ci import gitlab_ci

    target_env = _export(
        env, branch, output or Opts.app_dir / ".gitlab-ci.yml", lambda _app, spec: gitlab_ci(spec)
    )
    console.print(
        "in the project's Settings > CI/CD > Variables, set SHIPYARD_URL (the control plane's API) and "
        f"SHIPYARD_DEPLOY_TOKEN (masked: a token of a user with the deployer role on {target_env})",
        highlight=False,
    )
