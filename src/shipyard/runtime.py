"""The composition root: the one place real implementations are chosen and wired.

``shipyard server`` calls ``serve``; tests call ``build_engine`` to get the same
wiring on their own folders, or ``wire_services`` over a context of fake drivers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import psutil
import uvicorn

from shipyard.core.edge_config import EdgePorts
from shipyard.core.records import Owner
from shipyard.core.traffic import TrafficBook
from shipyard.drivers.data.backup_storage import LocalFolderStorage
from shipyard.drivers.data.interface import DataDrivers, StorageFor
from shipyard.drivers.data.postgres.dump import PgDump
from shipyard.drivers.data.postgres.programs import Postgres
from shipyard.drivers.files import secure_home, write_json
from shipyard.drivers.loops import LoopRegistry
from shipyard.drivers.observe.receivers import Dispatcher
from shipyard.drivers.pipeline.loadtest import run_wrk
from shipyard.drivers.pipeline.workbench import LocalWorkbench
from shipyard.drivers.ports import port_is_free
from shipyard.drivers.proxy.accesslog import AccessLogReceiver
from shipyard.drivers.proxy.edge import EdgeProxy
from shipyard.drivers.proxy.haproxy import HAProxy, find_haproxy
from shipyard.drivers.proxy.interface import AccessLog
from shipyard.drivers.runtime import procs
from shipyard.drivers.runtime.builder import Builder
from shipyard.drivers.runtime.docker_engine import DockerEngine
from shipyard.drivers.runtime.docker_runtime import DockerRuntime
from shipyard.drivers.runtime.images import ImageBuilder, Images
from shipyard.drivers.runtime.interface import ReleaseBuilder, Runtime
from shipyard.drivers.runtime.probe import Prober
from shipyard.drivers.runtime.registry import vault_login
from shipyard.drivers.runtime.supervisor import LocalRuntime
from shipyard.drivers.runtime.swarm_runtime import SwarmRuntime
from shipyard.drivers.triggers.git import GitCheckouts
from shipyard.engine.apps.edge import SharedEdge
from shipyard.engine.apps.registry import AppsRegistry
from shipyard.engine.apps.service import Apps
from shipyard.engine.certs.acme import AcmeRenewal
from shipyard.engine.certs.service import Certificates
from shipyard.engine.checkpoints import Checkpointer
from shipyard.engine.context import Context
from shipyard.engine.cron.scheduler import CronScheduler
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.data.drill import Drills
from shipyard.engine.data.masking import MaskedCopies
from shipyard.engine.data.migrations import Migrations
from shipyard.engine.data.schedule import BackupScheduler
from shipyard.engine.delivery.autoscale import Autoscaler, ScaleControl
from shipyard.engine.delivery.config import ConfigView
from shipyard.engine.delivery.healthwatch import HealthWatch
from shipyard.engine.delivery.history import History
from shipyard.engine.delivery.launcher import Launcher
from shipyard.engine.delivery.maintenance import MaintenanceSwitch
from shipyard.engine.delivery.reconcile import Reconciler
from shipyard.engine.engine import Engine
from shipyard.engine.jobs import JobRunner
from shipyard.engine.observe.alerting import Alerting
from shipyard.engine.observe.logs import LogService
from shipyard.engine.observe.metrics import MetricsRecorder
from shipyard.engine.observe.notifying import Notifier
from shipyard.engine.observe.reads import Observations
from shipyard.engine.pipeline.figures import DeliveryFigures
from shipyard.engine.pipeline.runs import Pipelines
from shipyard.engine.pipeline.verify import Verifier
from shipyard.engine.services import Services
from shipyard.engine.shared import Failpoint, Locks, PlatformFacts, Rollouts
from shipyard.engine.triggers.pushes import Triggers
from shipyard.engine.trust.access import Access
from shipyard.engine.trust.approvals import Approvals
from shipyard.engine.trust.directory import Directory
from shipyard.engine.trust.runtime_secrets import RuntimeSecrets
from shipyard.engine.trust.vault import Vault
from shipyard.errors import ShipyardError, StateError
from shipyard.home import Paths
from shipyard.manifest.loader import load_manifest
from shipyard.manifest.models import Manifest
from shipyard.server.api import create_app
from shipyard.server.apps_mux import AppsMux
from shipyard.state.logs import LogStore
from shipyard.state.store import StateStore, open_store

DEFAULT_API_PORT = 7310


def build_engine(paths: Paths) -> Engine:
    """Choose the real drivers (HAProxy, local processes, uv, SQLite) and wire every service."""
    manifest = load_manifest(paths.manifest)
    if note := secure_home(paths.home, traverse=_postgres_passes(manifest)):
        print(f"security: {note}", flush=True)
    traffic = TrafficBook()
    access_log = AccessLogReceiver(traffic, paths.home / "accesslog")
    proxy = HAProxy(paths.proxy, find_haproxy(), log_target=access_log.address)
    access_log.trust(proxy.owns)
    store = open_store(paths.state_db)
    dispatcher = Dispatcher()
    notifier = Notifier(store, dispatcher)
    ctx = _context(paths, manifest, store, proxy, traffic, notifier)
    alerting = Alerting(ctx, notifier, HealthWatch(ctx, Prober()), MetricsRecorder(ctx))
    services = wire_services(ctx, alerting, _log_service(ctx, access_log), access_log)
    services.loops.add(dispatcher.loops)  # the notification workers, for /health
    return Engine(ctx, services)


def _context(
    paths: Paths,
    manifest: Manifest,
    store: StateStore,
    proxy: HAProxy,
    traffic: TrafficBook,
    notifier: Notifier,
) -> Context:
    """What every part of the engine shares (``wire_services`` makes the vault its secrets' source)."""
    me = psutil.Process()
    runtime, builder = _runtime_drivers(paths, manifest)
    return Context(
        paths=paths,
        store=store,
        proxy=proxy,
        runtime=runtime,
        builder=builder,
        prober=Prober(),
        owner=Owner(me.pid, me.create_time()),
        manifest=manifest,
        manifest_text=paths.manifest.read_text(),
        traffic=traffic,
        notifier=notifier,  # routes deployment events
        facts=PlatformFacts(),
        failpoint=Failpoint(os.environ.get("SHIPYARD_FAILPOINT", "")),
        rollouts=Rollouts(),
        locks=Locks(),
        owner_alive=_control_plane_alive,
    )


def _runtime_drivers(paths: Paths, manifest: Manifest) -> tuple[Runtime, ReleaseBuilder]:
    """Where instances run and how releases are built, as ``runtime:`` in the manifest says."""
    files = Builder(paths.releases, paths.cache)
    if manifest.runtime in ("docker", "swarm"):
        engine = DockerEngine()  # $DOCKER_HOST or the default socket; connects on first use
        images = ImageBuilder(files, Images(engine))
        if manifest.runtime == "swarm":
            return SwarmRuntime(paths.home.resolve(), engine), images
        return DockerRuntime(paths.home.resolve(), engine), images
    return LocalRuntime(paths.home.resolve(), paths.envs), files


def _control_plane_alive(owner: Owner) -> bool:
    """Whether the control plane ``owner`` names (pid and start time) still runs here."""
    return procs.is_alive(procs.ProcessRef(owner.pid, owner.started))


def wire_services(
    ctx: Context,
    alerting: Alerting | None = None,
    logs: LogService | None = None,
    access_log: AccessLog | None = None,
    data: DataDrivers | None = None,
) -> Services:
    """Every service, once, over ``ctx`` (whose drivers may be fakes in a test) and the data
    drivers (``data_drivers()`` unless given); the vault becomes the secrets' source and the
    platform facts are registered here."""
    access = Access(ctx.store, lambda: list(ctx.manifest.environments))
    vault = Vault(ctx.store, access, ctx.paths.master_key, lambda: ctx.manifest.vault)
    ctx.secrets = RuntimeSecrets(vault)
    if isinstance(ctx.builder, ImageBuilder):  # a push to `registry:` logs in with the vault's secret
        ctx.builder.login = lambda registry: vault_login(
            registry, ctx.secrets, next(iter(ctx.manifest.environments))
        )
    if isinstance(ctx.runtime, SwarmRuntime):  # the nodes pull with the push's credentials
        ctx.runtime.login = lambda: (
            vault_login(r, ctx.secrets, next(iter(ctx.manifest.environments)))
            if (r := ctx.manifest.registry)
            else None
        )
    backups = BackupService(ctx, data or data_drivers())
    databases = AppDatabases(ctx, backups.engines.clusters)  # the one ManagedPostgres, the registry's
    pages = MaintenanceSwitch(ctx)
    migrations = Migrations(ctx, backups, databases, pages)
    reconciler = Reconciler(ctx, databases)
    reconciler.every(60.0, vault.purge_expired)
    bench = LocalWorkbench(ctx.paths.home / "pipelines")
    pipelines = Pipelines(ctx, bench, logs, Verifier(ctx, bench, run_wrk))
    launcher = Launcher(ctx, databases, migrations, pipelines)
    scheduler = BackupScheduler(backups)
    _register_facts(ctx.facts, backups, vault)
    figures = DeliveryFigures(ctx)
    figures.register_facts(ctx.facts)
    drills = Drills(backups, _shipped_at(scheduler))
    checkpointer = Checkpointer(ctx.store.checkpoint)
    cron = CronScheduler(ctx, databases)  # the manifest's `jobs:`
    ctx.facts.register("cron_failing", cron.failing)
    certs = Certificates(ctx, AcmeRenewal(ctx, vault.keep))
    ctx.facts.register("cert_expires_in", certs.expires_in)
    ctx.facts.register("cert_renewal_failing", certs.acme.failing if certs.acme else lambda env, now: 0.0)
    autoscaler = Autoscaler(ctx)
    loops = LoopRegistry()  # every background task, for /health and status
    for part in (
        reconciler,
        autoscaler,
        checkpointer,
        scheduler,
        drills,
        access_log,
        logs,
        alerting,
        cron,
        certs,
    ):
        if part is not None:
            loops.add(part.loops)
    return Services(
        launcher=launcher,
        reconciler=reconciler,
        autoscaler=autoscaler,
        scale=ScaleControl(ctx, autoscaler),
        history=History(ctx.store),
        config=ConfigView(ctx),
        pipelines=pipelines,
        figures=figures,
        triggers=Triggers(ctx, GitCheckouts(ctx.paths.home / "git"), pipelines),
        certs=certs,
        access=access,
        vault=vault,
        approvals=Approvals(ctx, launcher.launch),
        directory=Directory(ctx.store),
        backups=backups,
        databases=databases,
        migrations=migrations,
        maintenance=pages,
        backup_scheduler=scheduler,
        masked_copies=MaskedCopies(backups),
        drills=drills,
        jobs=JobRunner(ctx),
        checkpointer=checkpointer,
        observe=Observations(ctx, databases, alerting, loops),
        alerting=alerting,
        logs=logs,
        access_log=access_log,
        loops=loops,
        cron=cron,
    )


def data_drivers(storage_for: StorageFor | None = None) -> DataDrivers:
    """The real data drivers: backups in a local folder (unless ``storage_for`` says otherwise),
    PostgreSQL's programs from ``SHIPYARD_PG_BIN``, a known folder or the PATH."""
    postgres = Postgres()
    return DataDrivers(storage_for or LocalFolderStorage, postgres, PgDump(postgres))


def _register_facts(facts: PlatformFacts, backups: BackupService, vault: Vault) -> None:
    facts.register("backup_age", backups.age)
    facts.register("secrets_overdue", lambda env, now: vault.count_due(env, now, overdue_only=True))
    facts.register("secrets_due", lambda env, now: vault.count_due(env, now, overdue_only=False))


def _shipped_at(scheduler: BackupScheduler) -> Callable[[str], float | None]:
    """When ``env``'s WAL stream last shipped (None without one), for the drills' age."""

    def shipped_at(env: str) -> float | None:
        shipper = scheduler.shippers.get(env)
        return None if shipper is None else shipper.last_shipped_at

    return shipped_at


def _postgres_passes(manifest: Manifest) -> bool:
    """PostgreSQL run as another OS user (Shipyard as root) must pass through the home: a managed
    cluster, and the scratch clusters that verify and drill an external server's dumps."""
    dbs = [manifest.database_for(env) for env in manifest.environments]
    return os.geteuid() == 0 and any(db.engine == "postgres" for db in dbs)


def _log_service(ctx: Context, access_log: AccessLogReceiver) -> LogService | None:
    """The central logs; an unusable logs.db turns them off, not the control plane."""
    try:
        store = LogStore(ctx.paths.logs_db, ctx.manifest.logs.max_size)
    except StateError as exc:
        print(f"central logs are off: {exc.message}; {exc.hint}", file=sys.stderr, flush=True)
        return None
    return LogService(ctx, store, access_log)


class AppHost:
    """How this control plane opens a registered app (``engine/apps/service.py`` ``Host``): an
    engine of its own, started, its API mounted at ``/apps/NAME`` on this port and that URL
    written to the app's ``server.json`` (its token in its own home, as ``shipyard up`` makes)."""

    def __init__(self, mux: AppsMux, url: str) -> None:
        self.mux = mux
        self.url = url

    def open(self, name: str, paths: Paths) -> Engine:
        engine = build_engine(paths)
        try:
            engine.access.bootstrap(paths.home / "token")
            for line in engine.start():
                print(f"app {name}: reconcile: {line}", flush=True)
        except BaseException:
            engine.close()
            raise
        self.mux.mount(name, create_app(engine, lambda: None))  # its `down` stops its apps only
        _announce(paths, f"{self.url}/apps/{name}", mounted=True)
        return engine

    def close(self, name: str, paths: Paths, engine: Engine, stop_apps: bool) -> None:
        self.mux.unmount(name)
        if stop_apps:
            engine.shutdown()
        engine.close()
        (paths.home / "server.json").unlink(missing_ok=True)


def _announce(paths: Paths, url: str, mounted: bool = False) -> None:
    """Tell the CLI where the API of ``paths``' app is (``cli/connection.py`` reads it); ``mounted``:
    served beside others, so ``shipyard down`` there does not wait for this process to end."""
    me = psutil.Process()
    info = {"url": url, "pid": me.pid, "create_time": me.create_time(), "mounted": mounted}
    write_json(paths.home / "server.json", info)


def edge_ports(http: int | None, https: int | None, bind: str) -> EdgePorts | None:
    """The shared edge's ports from ``shipyard server``'s flags (None: no shared edge)."""
    if http is None and https is not None:
        raise ShipyardError("--edge-https-port needs --edge-http-port", "give both, such as 80 and 443")
    return EdgePorts(http, https, bind) if http is not None else None


def _apps(paths: Paths, engine: Engine, mux: AppsMux, url: str, edge: EdgePorts | None) -> Apps:
    """The registered apps and the shared edge (an HAProxy of its own when ``edge`` gives ports)."""
    folder = paths.home / "edge"
    driver = EdgeProxy(folder, find_haproxy()) if edge is not None else None
    registry = AppsRegistry(paths.home / "apps.json")
    return Apps(engine, registry, SharedEdge(folder, driver, edge), AppHost(mux, url))


def serve(paths: Paths, host: str, port: int, edge: EdgePorts | None = None) -> None:
    if not port_is_free(port) and host in ("127.0.0.1", "localhost"):
        raise ShipyardError(
            f"the API port {port} on {host} is already taken",
            "stop what uses it (`shipyard down` if it is another Shipyard), or pass --api-port",
        )
    engine = build_engine(paths)
    if created := engine.access.bootstrap(paths.home / "token"):
        print(
            f"created user {created!r} (admin on every environment); its token is in <home>/token", flush=True
        )
    for line in engine.start():
        print(f"reconcile: {line}", flush=True)
    servers: list[uvicorn.Server] = []

    def stop_serving() -> None:
        servers[0].should_exit = True

    primary = create_app(engine, stop_serving)
    mux = AppsMux(primary)
    apps = primary.state.apps = _apps(paths, engine, mux, f"http://{host}:{port}", edge)
    engine.loops.add(apps.loops)  # the shared edge's sync, for /health
    for line in apps.start():
        print(line, flush=True)
    config = uvicorn.Config(
        mux,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    servers.append(uvicorn.Server(config))
    _announce(paths, f"http://{host}:{port}")
    print(f"Shipyard control plane on http://{host}:{port} (home {paths.home})", flush=True)
    try:
        servers[0].run()
    finally:
        apps.close()
        engine.close()
        (paths.home / "server.json").unlink(missing_ok=True)
