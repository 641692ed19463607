"""PostgreSQL's programs, run for Shipyard: a managed cluster's life and its backup tools.

The server refuses to run as root, and the control plane may be root: ``initdb``,
``pg_ctl`` and the server run as an unprivileged OS user (``postgres`` if it exists, else
``nobody``) who owns the cluster folder. Client programs (``psql``, ``pg_basebackup``,
``pg_receivewal``, ``pg_verifybackup``, ``pg_amcheck``) run as the control plane over TCP
on 127.0.0.1 with a password from the environment, never on the command line. Every
failure becomes a ``DatabaseError`` with the program's last lines. Called by
``engine/data/postgres/managed.py`` and the PostgreSQL backups (``engine/data/postgres/backups.py``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import DatabaseError


@contextlib.contextmanager
def killed_after(proc: subprocess.Popen[bytes], seconds: float) -> Iterator[threading.Event]:
    """Kill ``proc`` if it still runs ``seconds`` from now (a program whose output is streamed
    has no timeout of its own); the event is set when it was killed for that."""
    fired = threading.Event()

    def kill() -> None:
        if proc.poll() is None:
            fired.set()
            proc.kill()

    timer = threading.Timer(seconds, kill)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


SEARCH = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


def find_bin_dir() -> Path:
    """The folder of PostgreSQL's programs: ``SHIPYARD_PG_BIN``, a known folder, or the PATH."""
    own = os.environ.get("SHIPYARD_PG_BIN")
    candidates = [own] if own else [*SEARCH, *(str(Path(p).parent) for p in [shutil.which("pg_ctl")] if p)]
    for folder in candidates:
        if folder and (Path(folder) / "pg_ctl").exists() and (Path(folder) / "initdb").exists():
            return Path(folder)
    raise DatabaseError(
        "no PostgreSQL programs found (initdb, pg_ctl): looked in "
        + (own if own else ", ".join(SEARCH) + " and the PATH"),
        "install PostgreSQL's server package (e.g. `apt-get install postgresql-15`), or set "
        "SHIPYARD_PG_BIN to the folder holding pg_ctl",
    )


def server_user() -> pwd.struct_passwd:
    """The OS user the server runs as when the control plane is root."""
    for name in (os.environ.get("SHIPYARD_PG_USER") or "", "postgres", "nobody"):
        if name:
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
    raise DatabaseError("no unprivileged user to run PostgreSQL as", "create one: useradd --system postgres")


@dataclass(frozen=True)
class Conn:
    """How client programs reach a cluster (the password goes in PGPASSWORD)."""

    port: int
    user: str
    password: str
    database: str = "postgres"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.database,
            "PGCONNECT_TIMEOUT": "5",
        }


class Postgres:
    def __init__(self, bin_dir: Path | None = None) -> None:
        self._bin_dir = bin_dir

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = find_bin_dir()
        return self._bin_dir

    def find_programs(self) -> Path:
        """The folder of the programs, looked for now (``find_bin_dir``)."""
        return find_bin_dir()

    def program(self, name: str) -> str:
        return str(self.bin_dir / name)

    # running things -------------------------------------------------------------------------
    def _as_server(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return [
            "setpriv",
            f"--reuid={server_user().pw_uid}",
            f"--regid={server_user().pw_gid}",
            "--init-groups",
            *argv,
        ]

    def run(
        self,
        argv: list[str],
        what: str,
        env: dict[str, str] | None = None,
        as_server: bool = False,
        timeout: float = 600,
        hint: str = "see the message above; the database was left as it was",
    ) -> str:
        full = self._as_server(argv) if as_server else argv
        try:
            done = subprocess.run(
                full, capture_output=True, text=True, env=env, timeout=timeout, check=False, cwd="/"
            )
        except subprocess.TimeoutExpired:
            raise DatabaseError(f"{what} took longer than {timeout:g}s", hint) from None
        except OSError as exc:
            raise DatabaseError(f"{what}: cannot run {argv[0]}: {exc}", hint) from None
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
            raise DatabaseError(f"{what} failed (exit {done.returncode}): {tail}", hint)
        return done.stdout

    def give_to_server(self, path: Path) -> None:
        """Make the server's user own ``path`` and everything under it."""
        if os.geteuid() != 0:
            return
        user = server_user()
        os.lchown(path, user.pw_uid, user.pw_gid)
        for root, dirs, files in os.walk(path):
            os.chown(root, user.pw_uid, user.pw_gid)
            for name in dirs + files:
                os.lchown(os.path.join(root, name), user.pw_uid, user.pw_gid)

    def check_reachable(self, folder: Path) -> None:
        """The server's user can pass through every folder down to ``folder``."""
        argv = self._as_server(["test", "-x", str(folder)])
        if subprocess.run(argv, capture_output=True, check=False, cwd="/").returncode != 0:
            raise DatabaseError(
                f"PostgreSQL's OS user ({server_user().pw_name}) cannot reach {folder}: "
                "a folder above it is private",
                "let others pass through the folders above it (chmod o+x), or put the Shipyard "
                "home (--home) somewhere that is not private",
            )

    # a cluster's life -----------------------------------------------------------------------
    def initdb(self, pgdata: Path, superuser_password: str) -> None:
        pgdata.mkdir(parents=True, mode=0o700)
        pwfile = pgdata.parent / ".initdb-pw"
        pwfile.write_text(superuser_password + "\n")
        try:
            self.give_to_server(pgdata)
            self.give_to_server(pwfile)
            self.run(
                [
                    self.program("initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=scram-sha-256",
                    f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-instructions",
                ],
                "initdb",
                as_server=True,
                timeout=120,
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    def create(self, pgdata: Path, superuser_password: str, settings: list[str], hba: str, log: Path) -> None:
        """A new cluster: ``initdb``, then Shipyard's settings and access rules, owned by the
        server's user, started."""
        self.initdb(pgdata, superuser_password)
        with open(pgdata / "postgresql.conf", "a") as fh:
            fh.write("\n# Shipyard\n" + "\n".join(settings) + "\n")
        (pgdata / "pg_hba.conf").write_text(hba)
        self.give_to_server(pgdata)
        self.start(pgdata, log)

    def start(self, pgdata: Path, log: Path, timeout: float = 60) -> None:
        if not log.exists():
            log.touch(mode=0o600)
        self.give_to_server(log)
        self.run(
            [
                self.program("pg_ctl"),
                "start",
                "-D",
                str(pgdata),
                "-l",
                str(log),
                "-w",
                "-t",
                str(int(timeout)),
            ],
            "pg_ctl start",
            env={**os.environ, "LC_ALL": "C"},
            as_server=True,
            timeout=timeout + 10,
            hint=f"see the server's log {log}",
        )

    def stop(self, pgdata: Path, mode: str = "fast", timeout: float = 60) -> None:
        if not self.running(pgdata):
            return
        self.run(
            [self.program("pg_ctl"), "stop", "-D", str(pgdata), "-m", mode, "-w", "-t", str(int(timeout))],
            "pg_ctl stop",
            as_server=True,
            timeout=timeout + 10,
        )

    def running(self, pgdata: Path) -> bool:
        if not (pgdata / "PG_VERSION").exists():
            return False
        argv = self._as_server([self.program("pg_ctl"), "status", "-D", str(pgdata)])
        return subprocess.run(argv, capture_output=True, check=False, cwd="/").returncode == 0

    # clients --------------------------------------------------------------------------------
    def sql(self, conn: Conn, statement: str, database: str | None = None) -> str:
        """Run SQL through psql; the unaligned, tuples-only output."""
        env = conn.env()
        if database:
            env["PGDATABASE"] = database
        return self.run(
            [self.program("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-q", "-c", statement],
            "psql",
            env=env,
        ).strip()

    def basebackup_argv(self, target: str) -> list[str]:
        """A tar-format base backup with the WAL it needs (``-`` streams it to stdout)."""
        return [
            self.program("pg_basebackup"), "-D", target, "-Ft", "-X", "fetch", "--checkpoint=fast",
            "--no-password", "--label=shipyard",
        ]  # fmt: skip

    def verifybackup(self, pgdata: Path, manifest: Path) -> str:
        return self.run(
            [self.program("pg_verifybackup"), "-n", "-m", str(manifest), str(pgdata)],
            "pg_verifybackup",
            hint="the base backup does not match its manifest: restore another backup",
        )

    def amcheck(self, conn: Conn) -> str:
        return self.run(
            [self.program("pg_amcheck"), "--all", "--install-missing", "--no-password"],
            "pg_amcheck",
            env=conn.env(),
            hint="the restored database is damaged: restore another backup",
        )
