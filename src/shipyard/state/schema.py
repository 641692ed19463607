"""Tables of the embedded state store (SQLite through SQLAlchemy Core).

The schema itself is created and evolved by Alembic migrations in
``state/migrations``; these Table objects are what the store queries with.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

releases = Table(
    "releases",
    metadata,
    Column("id", String, primary_key=True),
    Column("number", Integer, nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("checksum", String, nullable=False),
    Column("deps_hash", String, nullable=False),
    Column("path", Text, nullable=False),
    Column("manifest", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("config", Text, nullable=False, server_default="{}"),  # resolved configuration per env
    Column("base_release", String),  # the build a configuration release reuses
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("env", String, nullable=False, index=True),
    Column("kind", String, nullable=False),
    Column("release_id", String, ForeignKey("releases.id")),
    Column("from_release", String),
    Column("status", String, nullable=False),
    Column("requested_by", String, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("error", Text),
    Column("hint", Text),
    Column("checksum", String),  # of the release's snapshot, verified before it started
)

steps = Table(
    "steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment_id", Integer, ForeignKey("deployments.id"), nullable=False, index=True),
    Column("name", String, nullable=False),
    Column("status", String, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("detail", Text, nullable=False, default=""),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment_id", Integer, ForeignKey("deployments.id"), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("step", String, nullable=False),
    Column("status", String, nullable=False),
    Column("message", Text, nullable=False),
)

instances = Table(
    "instances",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("env", String, nullable=False, index=True),
    Column("colour", String, nullable=False),
    Column("slot", Integer, nullable=False),
    Column("release_id", String, ForeignKey("releases.id"), nullable=False),
    Column("endpoint", String),
    Column("runtime_ref", Text),
    Column("state", String, nullable=False),
    Column("restarts", Integer, nullable=False, default=0),
    Column("started_at", Float, nullable=False),
    Column("process", String, nullable=False, server_default="web"),
)

routes = Table(
    "routes",
    metadata,
    Column("env", String, primary_key=True),
    Column("active_colour", String),
    Column("active_release", String),
    Column("standby_colour", String),
    Column("standby_release", String),
    Column("standby_until", Float),
    Column("canary_colour", String),
    Column("canary_release", String),
    Column("canary_weight", Integer, nullable=False, server_default="0"),
    Column("updated_at", Float, nullable=False),
)

locks = Table(
    "locks",
    metadata,
    Column("env", String, primary_key=True),
    Column("deployment_id", Integer),
    Column("holder", String, nullable=False),
    Column("reason", Text, nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("owner_pid", Integer, nullable=False),
    Column("owner_started", Float, nullable=False),
)

rollouts = Table(
    "rollouts",
    metadata,
    Column("deployment_id", Integer, ForeignKey("deployments.id"), primary_key=True),
    Column("env", String, nullable=False, index=True),
    Column("strategy", String, nullable=False),
    Column("plan", Text, nullable=False),
    Column("step", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("phase", String, nullable=False),
    Column("paused_by", String),
    Column("last_progress", Float, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("first_error_at", Float),
    Column("decided_at", Float),
    Column("zero_at", Float),
    Column("reason", Text),
    Column("figures", Text),
    Column("updated_at", Float, nullable=False),
)

rollout_samples = Table(
    "rollout_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment_id", Integer, ForeignKey("deployments.id"), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("step", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("role", String, nullable=False),
    Column("release_id", String),
    Column("requests", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("rps", Float, nullable=False),
    Column("p50_ms", Float),
    Column("p95_ms", Float),
    Column("p99_ms", Float),
)

analysis_checks = Table(
    "analysis_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment_id", Integer, ForeignKey("deployments.id"), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("step", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("result", String, nullable=False),
    Column("summary", Text, nullable=False),
    Column("figures", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("name", String, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String, nullable=False),
    Column("disabled_at", Float),
)

grants = Table(
    "grants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user", String, ForeignKey("users.name"), nullable=False, index=True),
    Column("role", String, nullable=False),
    Column("env", String, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String, nullable=False),
    UniqueConstraint("user", "role", "env", name="uq_grants_user_role_env"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String, primary_key=True),
    Column("user", String, ForeignKey("users.name"), nullable=False, index=True),
    Column("hash", String, nullable=False, unique=True),
    Column("label", String, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
    Column("revoked_at", Float),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("actor", String, nullable=False, index=True),
    Column("action", String, nullable=False),
    Column("env", String, nullable=False),
    Column("target", String, nullable=False),
    Column("source", String, nullable=False),
    Column("result", String, nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String, nullable=False),
    Column("hash", String, nullable=False),
)

# The vault: one wrapped data key per environment, secrets' metadata, and their versions'
# ciphertexts (AES-256-GCM, see drivers/trust/crypto.py). No plaintext is ever stored.
vault_keys = Table(
    "vault_keys",
    metadata,
    Column("env", String, primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("key_id", String, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("rewrapped_at", Float),
)

secrets = Table(
    "secrets",
    metadata,
    Column("env", String, nullable=False),
    Column("name", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String, nullable=False),
    Column("rotate_every", Float),
    Column("expires_at", Float),
    Column("deleted_at", Float),
    Column("deleted_by", String),
    PrimaryKeyConstraint("env", "name"),
)

secret_versions = Table(
    "secret_versions",
    metadata,
    Column("env", String, nullable=False),
    Column("name", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String, nullable=False),
    PrimaryKeyConstraint("env", "name", "version"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("deployment_id", Integer, ForeignKey("deployments.id"), primary_key=True),
    Column("env", String, nullable=False, index=True),
    Column("requested_by", String, nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("decided_by", String),
    Column("decided_at", Float),
    Column("decision", String),
    Column("reason", Text, nullable=False, server_default=""),
)

# observability (issue 6): alerts, notifications, metrics, health history ---------------------
alert_states = Table(
    "alert_states",
    metadata,
    Column("fingerprint", String, primary_key=True),
    Column("rule", String, nullable=False),
    Column("labels", Text, nullable=False),
    Column("annotations", Text, nullable=False),
    Column("state", String, nullable=False),
    Column("active_since", Float, nullable=False),
    Column("fired_at", Float),
    Column("resolved_at", Float),
    Column("last_true_at", Float),
    Column("value", Float),
    Column("updated_at", Float, nullable=False),
)

alert_groups = Table(
    "alert_groups",
    metadata,
    Column("key", String, primary_key=True),
    Column("receiver", String, nullable=False),
    Column("labels", Text, nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_sent_at", Float),
    Column("sent_firing", Text, nullable=False),
)

silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("matchers", Text, nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("created_by", String, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("receiver", String, nullable=False),
    Column("receiver_kind", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("env", String, nullable=False),
    Column("key", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("status", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("detail", Text, nullable=False),
)

metric_points = Table(
    "metric_points",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("env", String, nullable=False),
    Column("metric", String, nullable=False),
    Column("series", String, nullable=False),
    Column("resolution", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("value", Float, nullable=False),
    Column("samples", Integer, nullable=False),
)
Index("ix_metric_points_env_res_at", metric_points.c.env, metric_points.c.resolution, metric_points.c.at)

health_history = Table(
    "health_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("env", String, nullable=False),
    Column("instance", String, nullable=False),
    Column("release_id", String, nullable=False),
    Column("at", Float, nullable=False),
    Column("status", String, nullable=False),
    Column("detail", Text, nullable=False),
)
Index("ix_health_history_env_at", health_history.c.env, health_history.c.at)

# jobs (issue 13): long operations the control plane runs on its threads, and their progress ------
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String, nullable=False),
    Column("env", String, nullable=False, index=True),
    Column("args", Text, nullable=False),  # JSON: what the job was asked to do
    Column("requested_by", String, nullable=False),
    Column("status", String, nullable=False),  # queued, running, succeeded, failed, interrupted
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("result", Text),  # JSON, when it succeeded
    Column("error", Text),
    Column("hint", Text),
)

job_progress = Table(
    "job_progress",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("message", Text, nullable=False),
)
