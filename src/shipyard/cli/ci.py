"""``shipyard ci export github``: write the pipeline of shipyard.yaml as a GitHub Actions workflow.

Reads shipyard.yaml from the app folder (no control plane needed), builds the workflow with
``core/pipeline/workflow.py`` and writes it as YAML (``.github/workflows/shipyard.yml`` in the
app folder unless ``--output`` says otherwise), then says which repository secret and variable
the deploy job reads. A thin edge.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shipyard.cli.session import Opts
from shipyard.errors import ConflictError, InputError

ci_app = typer.Typer(no_args_is_help=True, help="Export the pipeline for a CI service you keep.")
export_app = typer.Typer(no_args_is_help=True, help="Write the pipeline as another CI's configuration.")
ci_app.add_typer(export_app, name="export")
console = Console(soft_wrap=True)


@export_app.command("github")
def github(
    env: Annotated[
        str | None, typer.Option(help="Environment the deploy job deploys; default: the first.")
    ] = None,
    branch: Annotated[str, typer.Option(help="Branch whose pushes run the workflow.")] = "main",
    output: Annotated[
        Path | None,
        typer.Option(help="File to write; default: .github/workflows/shipyard.yml in the app folder."),
    ] = None,
) -> None:
    """A GitHub Actions workflow: a job per stage, then a deploy through Shipyard's API."""
    import yaml

    from shipyard.core.pipeline.workflow import github_workflow
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
    try:
        workflow = github_workflow(
            manifest.app, manifest.pipeline.stages, manifest.pipeline.env, target_env, branch, python,
            manifest.build.requirements,
        )  # fmt: skip
    except ValueError as exc:
        raise ConflictError(
            f"{FILENAME}: pipeline.stages: {exc}", "rename the stage, then export again"
        ) from None
    path = output or Opts.app_dir / ".github" / "workflows" / "shipyard.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, yaml.safe_dump(workflow, sort_keys=False), mode=0o644)
    console.print(f"wrote {path}", highlight=False)
    console.print(
        "in the repository's settings, set the variable SHIPYARD_URL (the control plane's API) and the "
        f"secret SHIPYARD_DEPLOY_TOKEN (a token of a user with the deployer role on {target_env})",
        highlight=False,
    )
