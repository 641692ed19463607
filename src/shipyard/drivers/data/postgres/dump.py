"""``pg_dump`` and ``pg_restore``: logical backups of a PostgreSQL server Shipyard does not run.

An external server gives no access to its files or WAL, so its backup is a custom-format
dump (``pg_dump -Fc``, uncompressed: the backup pipeline's zstd compresses it). The
password never goes on a command line: the programs get the URL without it
(``core/dburl.split_url``) and the password in ``PGPASSWORD``; a URL with no password leaves
it to libpq (``PGPASSFILE``, ``~/.pgpass``). A failure becomes a ``DatabaseError`` with
the program's last lines, the password scrubbed from them, and a hint for the usual causes
(server down, wrong credentials). Scratch restores (``verify``) use a local cluster's
``Conn``. Called by ``engine/data/postgres/dumps.py``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from shipyard.core.config import MASK
from shipyard.drivers.data.postgres.programs import Conn, Postgres, killed_after
from shipyard.errors import DatabaseError

T = TypeVar("T")
INSTALL_HINT = "install PostgreSQL's client programs (e.g. `apt-get install postgresql-client-15`)"
REACH_HINT = (
    "check that the server is up and reachable from this machine, and the url's user and "
    "password (`shipyard secrets set ENV NAME` for a #{NAME}# token); nothing was changed"
)


@dataclass(frozen=True)
class Server:
    """An external server as the client programs reach it."""

    url: str  # without its password: safe on a command line
    password: str | None = field(default=None, repr=False)
    shown: str = ""  # the URL, password masked, for messages

    def env(self) -> dict[str, str]:
        env = {**os.environ}  # no password in the url: libpq's own ways (PGPASSFILE, ~/.pgpass)
        env.setdefault("PGCONNECT_TIMEOUT", "10")
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def scrub(self, text: str) -> str:
        """``text`` without the password (a program's message quoting its connection)."""
        if self.password:
            text = text.replace(self.password, MASK)
        return text


class PgDump:
    def __init__(self, pg: Postgres) -> None:
        self.pg = pg

    def dump(self, server: Server, consume: Callable[[IO[bytes]], T], what: str, timeout: float) -> T:
        """Run ``pg_dump -Fc`` and hand its output stream to ``consume``; its result. It is
        killed after ``timeout`` seconds (a stalled server would hold the backup lock)."""
        argv = [self.pg.program("pg_dump"), "-Fc", "-Z", "0", "--no-password", f"--dbname={server.url}"]
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=server.env(), cwd="/")
            except OSError as exc:
                raise DatabaseError(f"{what}: cannot run pg_dump: {exc}", INSTALL_HINT) from None
            assert proc.stdout is not None
            with killed_after(proc, timeout) as late:
                try:
                    result = consume(proc.stdout)
                except BaseException:
                    proc.kill()
                    proc.wait()
                    raise
                finally:
                    proc.stdout.close()
                code = proc.wait()
            if late.is_set():
                raise DatabaseError(
                    f"{what}: pg_dump of {server.shown} took longer than {timeout:g}s and was stopped",
                    "is the server stalled? raise database.backups.timeout for a larger database; "
                    "earlier backups are untouched",
                )
            if code != 0:
                raise DatabaseError(
                    f"{what}: pg_dump of {server.shown} failed (exit {code}): {self._tail(server, err)}",
                    REACH_HINT,
                )
        return result

    def restore(self, server: Server, archive: Path, what: str, timeout: float = 3600) -> None:
        """Replace the server's objects with the archive's, all or nothing (one transaction)."""
        argv = [
            self.pg.program("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
            "--no-password", f"--dbname={server.url}", str(archive),
        ]  # fmt: skip
        self._run(argv, server.env(), what, timeout, server)

    def restore_local(self, conn: Conn, database: str, archive: Path, what: str) -> None:
        """Load the archive into ``database`` of a local scratch cluster (roles of the origin
        need not exist there: no owners, no privileges)."""
        argv = [
            self.pg.program("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
            "--no-password", f"--dbname={database}", str(archive),
        ]  # fmt: skip
        self._run(argv, conn.env(), what, 3600, None)

    def sql(self, server: Server, statement: str, what: str) -> str:
        """Run SQL on the server through psql; the unaligned, tuples-only output."""
        argv = [
            self.pg.program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-q", "--no-password",
            f"--dbname={server.url}", "-c", statement,
        ]  # fmt: skip
        return self._run(argv, server.env(), what, 60, server).strip()

    def entries(self, archive: Path) -> int:
        """How many entries the archive's table of contents lists (it is a readable dump)."""
        argv = [self.pg.program("pg_restore"), "--list", str(archive)]
        out = self._run(argv, dict(os.environ), "pg_restore --list", 600, None)
        return sum(1 for line in out.splitlines() if line.strip() and not line.startswith(";"))

    def _run(
        self, argv: list[str], env: dict[str, str], what: str, timeout: float, server: Server | None
    ) -> str:
        """``Postgres.run`` with the server named (password masked) and scrubbed from its messages."""
        where = f"{what} of {server.shown}" if server else what
        hint = REACH_HINT if server else "the dump does not load: restore another backup"
        try:
            return self.pg.run(argv, where, env, timeout=timeout, hint=hint)
        except DatabaseError as exc:
            raise DatabaseError(server.scrub(exc.message) if server else exc.message, exc.hint) from None

    @staticmethod
    def _tail(server: Server, err: IO[bytes]) -> str:
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
        return server.scrub(" | ".join(lines[-4:])) or "(no message)"
