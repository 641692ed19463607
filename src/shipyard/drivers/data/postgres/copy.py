"""A logical copy of one PostgreSQL database into another cluster, and the swap that puts it in.

``copy_database`` streams ``pg_dump -Fc`` of the source (the scratch cluster a backup was
recovered into) straight into ``pg_restore`` into an empty database of the target cluster:
nothing is written to disk in between, and only live rows travel (no freed page, no
statistics, so a masked source carries no original value). Objects are made by the target's
app role (``--no-owner --role``) and the source's grants are left out (``--no-privileges``):
the two clusters share no role but the app's. ``swap_databases`` then, in one transaction,
disconnects the target's app and renames ``app`` -> ``app_before_restore`` and the restored
database -> ``app`` (a client that connects meanwhile waits for the lock, then gets the new
one); a rename that still finds a session is retried. Called by ``engine/data/postgres/copies.py``.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import subprocess
import time
from dataclasses import replace

from shipyard.drivers.data.interface import Conn, PostgresPrograms
from shipyard.errors import DatabaseError

SWAP_ATTEMPTS = 5


def copy_database(pg: PostgresPrograms, source: Conn, target: Conn, role: str, timeout: float = 3600) -> None:
    """Copy ``source``'s database into the existing, empty ``target.database``."""
    dump = subprocess.Popen(
        [pg.program("pg_dump"), "-Fc", "-Z", "0", "--no-password"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=source.env(), cwd="/",
    )  # fmt: skip
    assert dump.stdout is not None and dump.stderr is not None
    with contextlib.suppress(OSError, AttributeError):  # 1 MiB pipe: fewer hand-overs
        fcntl.fcntl(dump.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    argv = [
        pg.program("pg_restore"), "--no-owner", "--no-privileges", f"--role={role}", "--exit-on-error",
        "--no-password", "-d", target.database,
    ]  # fmt: skip
    try:
        restore = subprocess.run(
            argv, stdin=dump.stdout, capture_output=True, text=True, env=target.env(), timeout=timeout,
            check=False, cwd="/",
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        dump.kill()
        raise DatabaseError(
            f"pg_restore took longer than {timeout:g}s", "the target was left as it was"
        ) from None
    finally:
        dump.stdout.close()
    dumped_err = dump.stderr.read().decode(errors="replace")
    dumped = dump.wait()
    if dumped != 0:
        raise DatabaseError(
            f"pg_dump of the recovered copy failed (exit {dumped}): {_tail(dumped_err)}",
            "the target was left as it was; see the message above",
        )
    if restore.returncode != 0:
        raise DatabaseError(
            f"pg_restore into {target.database} failed (exit {restore.returncode}): "
            f"{_tail(restore.stderr or restore.stdout)}",
            "the target was left as it was; see the message above",
        )


def swap_databases(pg: PostgresPrograms, admin: Conn, live: str, new: str, old: str) -> None:
    """``live`` becomes ``old`` and ``new`` becomes ``live``, in one transaction."""
    statement = (
        "BEGIN; "
        f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = {_lit(live)} "
        "AND pid <> pg_backend_pid(); "
        f"ALTER DATABASE {_ident(live)} RENAME TO {_ident(old)}; "
        f"ALTER DATABASE {_ident(new)} RENAME TO {_ident(live)}; "
        "COMMIT;"
    )
    for attempt in range(SWAP_ATTEMPTS):
        try:
            pg.sql(replace(admin, database="postgres"), statement)
            return
        except DatabaseError as exc:  # a client connected between the termination and the rename
            if "being accessed by other users" not in exc.message or attempt == SWAP_ATTEMPTS - 1:
                raise
            time.sleep(0.2)


def exists(pg: PostgresPrograms, admin: Conn, database: str) -> bool:
    found = pg.sql(admin, f"SELECT count(*) FROM pg_database WHERE datname = {_lit(database)}", "postgres")
    return found == "1"


def drop(pg: PostgresPrograms, admin: Conn, database: str) -> None:
    """Drop ``database`` if it exists, whoever is connected to it."""
    pg.sql(admin, f"DROP DATABASE IF EXISTS {_ident(database)} WITH (FORCE)", "postgres")


def create(pg: PostgresPrograms, admin: Conn, database: str, owner: str) -> None:
    pg.sql(admin, f"CREATE DATABASE {_ident(database)} OWNER {_ident(owner)} TEMPLATE template0", "postgres")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _tail(text: str) -> str:
    """The programs' last lines, without those that quote rows (``DETAIL: Key (email)=(...)``,
    ``CONTEXT: COPY people, line 3: ...``): a failed copy must not put the data in a message."""
    lines = [ln for ln in text.strip().splitlines() if not re.match(r"\s*(DETAIL|CONTEXT):", ln)]
    return " | ".join(lines[-4:]) or "(no message)"
