"""The engine's services, each built once by the composition root (``shipyard.runtime``) and
handed to ``Engine`` in one record: ``Engine.__init__`` builds nothing.

A field per service, typed by its class (or, for a driver, by its Protocol), so a test can
wire the engine with a fake in any place.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.drivers.loops import LoopRegistry
from shipyard.drivers.proxy.interface import AccessLog
from shipyard.engine.certs.service import Certificates
from shipyard.engine.checkpoints import Checkpointer
from shipyard.engine.cron.scheduler import CronScheduler
from shipyard.engine.data.backups import BackupService
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.data.drill import Drills
from shipyard.engine.data.masking import MaskedCopies
from shipyard.engine.data.migrations import Migrations
from shipyard.engine.data.schedule import BackupScheduler
from shipyard.engine.delivery.autoscale import Autoscaler, ScaleControl
from shipyard.engine.delivery.config import ConfigView
from shipyard.engine.delivery.history import History
from shipyard.engine.delivery.launcher import Launcher
from shipyard.engine.delivery.maintenance import MaintenanceSwitch
from shipyard.engine.delivery.reconcile import Reconciler
from shipyard.engine.jobs import JobRunner
from shipyard.engine.observe.alerting import Alerting
from shipyard.engine.observe.logs import LogService
from shipyard.engine.observe.reads import Observations
from shipyard.engine.pipeline.figures import DeliveryFigures
from shipyard.engine.pipeline.runs import Pipelines
from shipyard.engine.triggers.pushes import Triggers
from shipyard.engine.trust.access import Access
from shipyard.engine.trust.approvals import Approvals
from shipyard.engine.trust.directory import Directory
from shipyard.engine.trust.vault import Vault


@dataclass(frozen=True)
class Services:
    # delivery
    launcher: Launcher  # runs each deployment on its thread
    reconciler: Reconciler
    history: History  # deployments, events, releases as the API reads them
    config: ConfigView
    maintenance: MaintenanceSwitch  # the maintenance page, by hand and around migrations
    pipelines: Pipelines  # a release's stages and gates, and whether it may deploy
    figures: DeliveryFigures  # shipyard stats: the delivery (DORA) figures
    triggers: Triggers  # a git push or a webhook: build, pipeline, branch rule, deploy
    certs: Certificates  # the edge's TLS certificates: shipyard certs
    autoscaler: Autoscaler  # each autoscaled environment's desired web count
    scale: ScaleControl  # shipyard scale: pin, automatic, history
    # trust
    access: Access
    vault: Vault
    approvals: Approvals
    directory: Directory  # users and the audit trail as the API reads them
    # data
    backups: BackupService
    databases: AppDatabases  # the app's database as delivery needs it
    migrations: Migrations
    backup_scheduler: BackupScheduler
    masked_copies: MaskedCopies
    drills: Drills
    jobs: JobRunner  # backups, restores, drills, migrations by hand
    checkpointer: Checkpointer  # the WAL, out of requests' commits
    # observe
    observe: Observations
    loops: LoopRegistry  # every background task, for /health and status
    alerting: Alerting | None = None  # off in tests that do not need it
    logs: LogService | None = None  # None when logs.db is unusable
    access_log: AccessLog | None = None
    cron: CronScheduler | None = None  # the manifest's scheduled jobs
