"""A managed PostgreSQL cluster as data: its record, settings, URL, WAL names, recovery. Pure.

``Cluster`` is what Shipyard keeps about an environment's cluster (in ``<data>/pg/cluster.json``,
mode 0600: port and passwords). ``server_settings``/``hba`` are the configuration it is created
with (127.0.0.1 only, password auth, WAL for streaming backups); ``recovery_settings`` what a
restore appends for point-in-time recovery. WAL file names (``000000010000000000000003``)
are parsed and ordered by ``wal_key``. Used by ``engine/data/postgres/managed.py`` and
``engine/data/postgres/backups.py``.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from urllib.parse import quote

WAL_NAME = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
APP_ROLE = "app"
APP_DATABASE = "app"


@dataclass(frozen=True)
class Cluster:
    port: int
    superuser_password: str
    app_password: str
    app_role: str = APP_ROLE
    app_database: str = APP_DATABASE


def app_url(cluster: Cluster) -> str:
    """``DATABASE_URL`` of the app's database in a managed cluster."""
    return (
        f"postgresql://{quote(cluster.app_role)}:{quote(cluster.app_password, safe='')}"
        f"@127.0.0.1:{cluster.port}/{quote(cluster.app_database)}"
    )


def server_settings(port: int) -> list[str]:
    """Lines appended to a new cluster's postgresql.conf."""
    return [
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        "unix_socket_directories = ''",  # TCP on 127.0.0.1 with a password only
        "password_encryption = 'scram-sha-256'",
        "wal_level = replica",
        "max_wal_senders = 10",
        "max_replication_slots = 10",
        "wal_keep_size = '256MB'",
        "logging_collector = off",
        "log_min_messages = warning",
    ]


def hba() -> str:
    return (
        "# written by Shipyard: 127.0.0.1 only, passwords (SCRAM) for every role\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        "host replication all 127.0.0.1/32 scram-sha-256\n"
    )


def recovery_settings(wal_dir: str, to_time: float | None, port: int | None = None) -> list[str]:
    """What a restored data folder gets for recovery: WAL from ``wal_dir``, up to ``to_time``
    (every WAL there when None), then promote to a normal, writable server; ``port`` for a
    scratch copy beside the live cluster."""
    lines = [f"port = {port}"] if port is not None else []
    lines += [
        f'restore_command = \'cp "{wal_dir}/%f" "%p"\'',
        "recovery_target_timeline = 'current'",
    ]
    if to_time is not None:
        lines += [
            f"recovery_target_time = '{format_time(to_time)}'",
            "recovery_target_inclusive = true",
            "recovery_target_action = 'promote'",
        ]
    return lines


def format_time(ts: float) -> str:
    """A UTC timestamp PostgreSQL parses, to the microsecond."""
    micro = round((ts % 1) * 1_000_000)
    whole = int(ts) + (1 if micro == 1_000_000 else 0)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + f".{micro % 1_000_000:06d}+00"


def wal_key(name: str, per: int = 256) -> tuple[int, int] | None:
    """(timeline, segment number) of a WAL file name; None when it is not one. ``per`` is
    segments per 4 GiB (256 for the default 16 MiB segments)."""
    found = WAL_NAME.match(name.removesuffix(".partial"))
    if found is None:
        return None
    timeline, high, low = (int(g, 16) for g in found.groups())
    return timeline, high * per + low


def missing_segments(names: list[str], per: int = 256) -> list[str]:
    """Segments absent between the first and the last of one timeline's ``names`` (a gap)."""
    keys = sorted({k for k in (wal_key(n, per) for n in names) if k is not None})
    gaps: list[str] = []
    for (tl_a, a), (tl_b, b) in itertools.pairwise(keys):
        if tl_a == tl_b:
            gaps += [wal_name(tl_a, s, per) for s in range(a + 1, b)]
    return gaps


def wal_name(timeline: int, segno: int, per: int = 256) -> str:
    return f"{timeline:08X}{segno // per:08X}{segno % per:08X}"


def slot_name(env: str) -> str:
    """The replication slot continuous WAL streaming of ``env`` holds."""
    return "shipyard_" + re.sub(r"[^a-z0-9_]", "_", env.lower())[:40]
