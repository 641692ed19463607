"""The ``shipyard`` command line (Typer): a thin edge over the control plane's API.

Errors are printed once, here: ``Error: ...`` then ``Try: ...``, exit code 1. The entry point
is ``hot.main``: ``rollback`` and ``deploy`` start there without loading this app. Heavy
modules (the manifest's models, Rich tables, httpx) are imported inside the commands that use
them, so that loading the app for one command does not load them all.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli import alerts as alerts_cli
from shipyard.cli import apps as apps_cli
from shipyard.cli import backup as backup_cli
from shipyard.cli import certs as certs_cli
from shipyard.cli import ci as ci_cli
from shipyard.cli import config as config_cli
from shipyard.cli import cron as cron_cli
from shipyard.cli import delivery
from shipyard.cli import drill as drill_cli
from shipyard.cli import git as git_cli
from shipyard.cli import jobs as jobs_cli
from shipyard.cli import logs as logs_cli
from shipyard.cli import maintenance as maintenance_cli
from shipyard.cli import metrics as metrics_cli
from shipyard.cli import nodes as nodes_cli
from shipyard.cli import pipeline as pipeline_cli
from shipyard.cli import promote as promote_cli
from shipyard.cli import rollout as rollout_cli
from shipyard.cli import scale as scale_cli
from shipyard.cli import secrets as secrets_cli
from shipyard.cli import users as users_cli
from shipyard.cli.session import Opts, client, print_error, use_folders
from shipyard.drivers.files import open_private_append, read_json
from shipyard.errors import ConflictError, ShipyardError

if TYPE_CHECKING:
    from shipyard.cli.client import Client

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Shipyard: zero-downtime deployments on your own machine.",
)
lock_app = typer.Typer(no_args_is_help=True, help="Inspect and break environment locks.")
app.add_typer(lock_app, name="lock")
app.add_typer(rollout_cli.rollout_app, name="rollout")
app.add_typer(users_cli.users_app, name="users")
app.add_typer(users_cli.tokens_app, name="tokens")
app.add_typer(users_cli.audit_app, name="audit")
app.add_typer(secrets_cli.secrets_app, name="secrets")
app.add_typer(logs_cli.logs_app, name="logs")
app.add_typer(alerts_cli.alerts_app, name="alerts")
app.command("metrics")(metrics_cli.metrics)
app.command()(users_cli.whoami)
app.add_typer(config_cli.config_app, name="config")
for command in (promote_cli.promote, promote_cli.approve, promote_cli.reject, promote_cli.approvals):
    app.command()(command)
app.add_typer(backup_cli.backup_app, name="backup")
app.add_typer(backup_cli.migrate_app, name="migrate")
app.command("drill")(drill_cli.drill)
app.add_typer(jobs_cli.jobs_app, name="jobs")
app.add_typer(cron_cli.cron_app, name="cron")
app.add_typer(maintenance_cli.maintenance_app, name="maintenance")
app.command("scale")(scale_cli.scale)
app.add_typer(certs_cli.certs_app, name="certs")
app.command("nodes")(nodes_cli.nodes)
app.add_typer(pipeline_cli.pipeline_app, name="pipeline")
app.command("stats")(pipeline_cli.stats)
app.add_typer(ci_cli.ci_app, name="ci")
app.add_typer(git_cli.git_app, name="git")
app.add_typer(apps_cli.apps_app, name="apps")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
EdgeHttp = Annotated[
    int | None,
    typer.Option(min=1, max=65535, help="The shared edge's HTTP port (apps' `edge.domains`), such as 80."),
]
EdgeHttps = Annotated[
    int | None, typer.Option(min=1, max=65535, help="The shared edge's HTTPS port (by SNI), such as 443.")
]
EdgeBind = Annotated[str, typer.Option(help="The IPv4 address the shared edge listens on.")]


@app.callback()
def _global(
    home: Annotated[
        Path, typer.Option(envvar="SHIPYARD_HOME", help="Data folder (state, releases, logs).")
    ] = Path(".shipyard"),
    app_dir: Annotated[
        Path, typer.Option(envvar="SHIPYARD_APP_DIR", help="Folder holding shipyard.yaml.")
    ] = Path("."),
) -> None:
    use_folders(home, app_dir)


def _client() -> Client:
    return client()


@app.command()
def init(
    name: Annotated[str | None, typer.Option(help="App name; default: the folder's name.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing shipyard.yaml.")] = False,
) -> None:
    """Write a commented shipyard.yaml to start from."""
    from shipyard.manifest.loader import FILENAME
    from shipyard.manifest.template import render_template

    target = Opts.app_dir / FILENAME
    if target.exists() and not force:
        raise ConflictError(f"{target} already exists", "pass --force to overwrite it")
    app_name = name or "".join(c if c.isalnum() else "-" for c in Opts.app_dir.name.lower())
    target.write_text(render_template(app_name.strip("-") or "app"))
    console.print(f"wrote {target}; check it with `shipyard validate`")


@app.command()
def validate() -> None:
    """Check shipyard.yaml and print a summary."""
    from shipyard.manifest.loader import FILENAME, load_manifest

    manifest = load_manifest(Opts.app_dir / FILENAME)
    envs = ", ".join(f"{n} (:{e.port})" for n, e in manifest.environments.items())
    console.print(f"[green]✓[/] {FILENAME} is valid: app {manifest.app}; environments {envs}")


@app.command()
def server(
    api_host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    api_port: Annotated[int, typer.Option(help="Port the API listens on.")] = 7310,
    edge_http_port: EdgeHttp = None,
    edge_https_port: EdgeHttps = None,
    edge_bind: EdgeBind = "0.0.0.0",
) -> None:
    """Run the control plane in the foreground (API, HAProxy, supervisor)."""
    from shipyard.home import Paths
    from shipyard.runtime import edge_ports, serve

    edge = edge_ports(edge_http_port, edge_https_port, edge_bind)
    serve(Paths(Opts.home, Opts.app_dir), api_host, api_port, edge)


@app.command()
def up(
    api_port: Annotated[int, typer.Option(help="Port the API listens on.")] = 7310,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for it to answer.")] = 30,
    edge_http_port: EdgeHttp = None,
    edge_https_port: EdgeHttps = None,
    edge_bind: EdgeBind = "0.0.0.0",
) -> None:
    """Start the control plane in the background and wait until it answers."""
    from shipyard.manifest.loader import FILENAME, load_manifest

    load_manifest(Opts.app_dir / FILENAME)
    _refuse_if_served(Opts.home)
    Opts.home.mkdir(parents=True, exist_ok=True, mode=0o700)  # the server tightens it further
    log_path = Opts.home / "server.log"
    (Opts.home / "server.json").unlink(missing_ok=True)
    with open_private_append(log_path) as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shipyard",
                "--home",
                str(Opts.home),
                "--app-dir",
                str(Opts.app_dir),
                "server",
                "--api-port",
                str(api_port),
                *(["--edge-http-port", str(edge_http_port)] if edge_http_port else []),
                *(["--edge-https-port", str(edge_https_port)] if edge_https_port else []),
                *(["--edge-bind", edge_bind] if edge_http_port else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-6:]
            raise ShipyardError("the control plane exited at start:\n" + "\n".join(tail), f"see {log_path}")
        if (Opts.home / "server.json").exists():
            try:
                client = _client()
                client.get("/api/ping")
                console.print(f"control plane running at {client.url} (pid {proc.pid}, log {log_path})")
                return
            except ShipyardError:
                pass
        time.sleep(0.1)
    raise ShipyardError(f"the control plane did not answer within {timeout:g}s", f"see {log_path}")


@app.command()
def down(
    keep_apps: Annotated[bool, typer.Option(help="Leave instances and HAProxy running.")] = False,
) -> None:
    """Stop the control plane, and (unless --keep-apps) every instance and HAProxy."""
    client = _client()
    info = read_json(Opts.home / "server.json")
    client.post("/api/shutdown", stop_apps=not keep_apps)
    if isinstance(info, dict) and info.get("mounted"):  # an app served beside others (`apps add`)
        console.print("this app's instances and HAProxy stopped; the control plane serves the others")
        return
    if isinstance(info, dict):
        _wait_exit(int(info["pid"]), timeout=20)
    console.print("control plane stopped" + ("" if keep_apps else ", with all apps and HAProxy"))


@app.command()
def deploy(
    env: Annotated[str, typer.Argument(help="Environment.")] = "dev",
    release: Annotated[str | None, typer.Option(help="Deploy this existing release.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the steps until it ends.")] = True,
) -> None:
    """Build a release and roll it out (blue-green or canary), showing each step live."""
    delivery.deploy(_client(), env, release, wait)


@app.command()
def rollback(
    env: Annotated[str, typer.Argument(help="Environment.")] = "dev",
    to: Annotated[str | None, typer.Option(help="Release to go back to.")] = None,
) -> None:
    """Put the previous release (or --to RELEASE) back on traffic."""
    delivery.rollback(_client(), env, to)


@app.command()
def status() -> None:
    """Environments, their serving release and colour, instances and workers."""
    from shipyard.schemas.deployments import Status

    data = Status.model_validate(_client().get("/api/status"))
    proxy = "running" if data.proxy_running else "[red]not running[/]"
    console.print(f"app [bold]{data.app}[/]; HAProxy {proxy}")
    for name, env in data.environments.items():
        line = f"[bold]{name}[/] {env.url}  serving {env.active_release or 'nothing deployed'}"
        if env.active_colour:
            line += f" ({env.active_colour})"
        if env.standby_colour:
            left = max(0, (env.standby_until or 0) - time.time())
            line += f"; standby {env.standby_release} ({env.standby_colour}, {left:.0f}s)"
        if env.lock:
            line += f"; [yellow]locked by {env.lock.holder}: {env.lock.reason}[/]"
        console.print(line, highlight=False)
        if env.autoscale:
            console.print(f"   {escape(env.autoscale)}", highlight=False)
        for row in env.waiting_approval:
            console.print(f"   [yellow]{promote_cli.waiting_line(row)}[/]", highlight=False)
        for inst in env.instances:
            console.print(
                f"   {inst.name:<8} {inst.release:<5} :{inst.port} "
                f"pid {inst.pid} {inst.state} proxy={inst.proxy_status} "
                f"weight={inst.weight} restarts={inst.restarts}",
                highlight=False,
            )
        for worker in env.workers:
            alive = "" if worker.alive else " [red]down[/]"
            console.print(
                f"   {worker.name:<8} {worker.release:<5} worker pid {worker.pid} {worker.state}{alive} "
                f"restarts={worker.restarts}",
                highlight=False,
            )
    for problem in data.reconciler_errors:
        err.print(f"[yellow]reconciler:[/] {problem}")
    firing = sum(env.alerts_firing for env in data.environments.values())
    if firing:
        console.print(f"[red]{firing} alert(s) firing[/]: see `shipyard alerts list`")
    for failed in data.failed_notifications:
        err.print(f"[red]notification to {failed.receiver} failed:[/] {escape(failed.detail)}")


@app.command()
def releases() -> None:
    """Releases, newest first."""
    from rich.table import Table

    from shipyard.schemas.deployments import Release

    table = Table("release", "created", "checksum", "deps", "source")
    for rel in (Release.model_validate(row) for row in _client().get("/api/releases")):
        table.add_row(rel.id, _when(rel.created_at), rel.checksum[:12], rel.deps_hash, rel.source)
    console.print(table)


@app.command()
def deployments(
    env: Annotated[str | None, typer.Argument(help="Only this environment.")] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 10,
) -> None:
    """Deployment history with each step's timing."""
    for dep in _client().get("/api/deployments", env=env, limit=limit):
        took = (dep["finished_at"] or time.time()) - dep["started_at"]
        colour = {"succeeded": "green", "running": "cyan", "waiting_approval": "yellow"}.get(
            dep["status"], "red"
        )
        console.print(
            f"[bold]#{dep['id']}[/] {_when(dep['started_at'])} {dep['env']} "
            f"{dep['kind']} {dep['release_id'] or '-'} [{colour}]{dep['status']}[/] "
            f"{took:.2f}s by {dep['requested_by']}",
            highlight=False,
        )
        for step in dep["steps"]:
            secs = f"{step['seconds']:.3f}s" if step["seconds"] is not None else "…"
            console.print(
                f"    {step['name']:<8} {step['status']:<7} {secs:>8}  {step['detail']}",
                highlight=False,
            )
        if line := promote_cli.approval_line(dep):
            console.print(f"    {line}", highlight=False)
        shown = {step["detail"] for step in dep["steps"]}
        if dep["error"] and dep["error"] not in shown:
            console.print(f"    [red]{escape(dep['error'])}[/]", highlight=False)


@lock_app.command("break")
def lock_break(env: Annotated[str, typer.Argument(help="Environment.")]) -> None:
    """Remove a stale deploy lock (the deployment that held it is marked interrupted)."""
    from shipyard.schemas.deployments import LockBroken

    data = LockBroken.model_validate(_client().post(f"/api/locks/{env}/break"))
    console.print(f"lock on {env} broken (deployment {data.deployment} by {data.holder})")


def _refuse_if_served(home: Path) -> None:
    """A home a live control plane serves (its own, or as an app beside others) gets no second one."""
    import psutil

    info = read_json(home / "server.json")
    if not isinstance(info, dict):
        return
    try:
        proc = psutil.Process(int(info["pid"]))
        same = abs(proc.create_time() - float(info["create_time"])) < 1
        alive = same and proc.status() != psutil.STATUS_ZOMBIE  # a killed one not yet reaped is gone
    except (psutil.Error, KeyError, TypeError, ValueError):
        alive = False
    if alive:
        raise ConflictError(
            f"{home} is already served at {info.get('url')} (pid {info['pid']})",
            "`shipyard apps remove NAME` on the control plane that serves it first"
            if info.get("mounted")
            else "`shipyard down` first, or use it as it runs",
        )


def _wait_exit(pid: int, timeout: float) -> None:
    import psutil

    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        raise ShipyardError(
            f"the control plane (pid {pid}) did not exit within {timeout:g}s", f"stop it with `kill {pid}`"
        ) from None


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except ShipyardError as exc:
        print_error(exc)
        sys.exit(1)
    except typer.exceptions.Abort:
        sys.exit(130)
    except typer.exceptions.TyperException as exc:  # usage errors: bad option, unknown command
        exc.show()  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
