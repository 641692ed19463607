"""The composition root: the one place real implementations are chosen and wired.

``shipyard server`` calls ``serve``; tests call ``build_engine`` to get the same
wiring on their own folders.
"""

from __future__ import annotations

import os
import sys

import psutil
import uvicorn

from shipyard.core.records import Owner
from shipyard.core.traffic import TrafficBook
from shipyard.drivers.files import secure_home, write_json
from shipyard.drivers.observe.receivers import Dispatcher
from shipyard.drivers.proxy.accesslog import AccessLogReceiver
from shipyard.drivers.proxy.haproxy import HAProxy, find_haproxy
from shipyard.drivers.runtime.builder import Builder
from shipyard.drivers.runtime.probe import Prober
from shipyard.drivers.runtime.supervisor import LocalRuntime, port_is_free
from shipyard.drivers.runtime.usage import UsageSampler
from shipyard.engine.context import Context
from shipyard.engine.delivery.healthwatch import HealthWatch
from shipyard.engine.engine import Engine
from shipyard.engine.observe.alerting import Alerting
from shipyard.engine.observe.logs import LogService
from shipyard.engine.observe.metrics import MetricsRecorder
from shipyard.engine.observe.notifying import Notifier
from shipyard.errors import ShipyardError, StateError
from shipyard.home import Paths
from shipyard.manifest.loader import load_manifest
from shipyard.manifest.models import Manifest
from shipyard.server.api import create_app
from shipyard.state.logs import LogStore
from shipyard.state.store import open_store

DEFAULT_API_PORT = 7310


def build_engine(paths: Paths) -> Engine:
    manifest = load_manifest(paths.manifest)
    if note := secure_home(paths.home, traverse=_postgres_passes(manifest)):
        print(f"security: {note}", flush=True)
    me = psutil.Process()
    traffic = TrafficBook()
    access_log = AccessLogReceiver(traffic, paths.home / "accesslog")
    proxy = HAProxy(paths.proxy, find_haproxy(), log_target=access_log.address)
    access_log.trust(proxy.owns)
    store = open_store(paths.state_db)
    notifier = Notifier(store, Dispatcher())
    ctx = Context(
        paths=paths,
        store=store,
        proxy=proxy,
        runtime=LocalRuntime(paths.home.resolve()),
        builder=Builder(paths.releases, paths.cache),
        prober=Prober(),
        owner=Owner(me.pid, me.create_time()),
        manifest=manifest,
        manifest_text=paths.manifest.read_text(),
        traffic=traffic,
        notifier=notifier,
        failpoint=os.environ.get("SHIPYARD_FAILPOINT", ""),
    )
    alerting = Alerting(ctx, notifier, UsageSampler(), HealthWatch(ctx, Prober()), MetricsRecorder(ctx))
    return Engine(ctx, access_log, _log_service(ctx, access_log), alerting)


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


def serve(paths: Paths, host: str, port: int) -> None:
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

    config = uvicorn.Config(
        create_app(engine, stop_serving),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    servers.append(uvicorn.Server(config))
    me = psutil.Process()
    write_json(
        paths.home / "server.json",
        {"url": f"http://{host}:{port}", "pid": me.pid, "create_time": me.create_time()},
    )
    print(f"Shipyard control plane on http://{host}:{port} (home {paths.home})", flush=True)
    try:
        servers[0].run()
    finally:
        engine.close()
        (paths.home / "server.json").unlink(missing_ok=True)
