"""drivers/data/postgres/dump.py: the password reaches the programs in PGPASSWORD only, never their argv,
and their messages come back scrubbed. A stand-in ``pg_dump`` script records what it got."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from shipyard.core.dburl import mask_url, split_url
from shipyard.drivers.data.postgres.dump import PgDump, Server
from shipyard.drivers.data.postgres.programs import Postgres
from shipyard.errors import DatabaseError

URL = "postgresql://app:s3cr%40t@db.internal:5432/app?sslmode=disable"


def server() -> Server:
    url, password = split_url(URL)
    return Server(url, password, mask_url(URL))


def fake_bin(tmp_path: Path, body: str) -> Postgres:
    for name in ("pg_dump", "pg_restore"):
        script = tmp_path / name
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(0o755)
    return Postgres(tmp_path)


def test_the_password_goes_in_the_environment_not_the_url() -> None:
    s = server()
    assert s.url == "postgresql://app@db.internal:5432/app?sslmode=disable"
    assert s.env()["PGPASSWORD"] == "s3cr@t"
    assert "s3cr" not in repr(s) and "s3cr" not in s.shown
    assert s.scrub("FATAL: password s3cr@t is wrong") == "FATAL: password ********** is wrong"


def test_dump_streams_stdout_and_never_puts_the_password_on_the_command_line(tmp_path: Path) -> None:
    pg = fake_bin(tmp_path, f'echo "$@" > {tmp_path}/argv\necho "pw=$PGPASSWORD"\n')
    out = PgDump(pg).dump(server(), lambda stream: stream.read(), "backup of prod", 60)
    assert out == b"pw=s3cr@t\n"  # the program got the password, in its environment
    argv = (tmp_path / "argv").read_text()
    assert "-Fc" in argv and "--dbname=postgresql://app@db.internal:5432/app" in argv and "s3cr" not in argv


def test_a_failed_dump_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    pg = fake_bin(tmp_path, 'echo "connection failed: password $PGPASSWORD rejected" >&2\nexit 1\n')
    with pytest.raises(DatabaseError) as err:
        PgDump(pg).dump(server(), lambda stream: stream.read(), "backup of prod", 60)
    assert "pg_dump of postgresql://app:**********@db.internal:5432/app" in err.value.message
    assert "exit 1" in err.value.message and "rejected" in err.value.message
    assert "s3cr" not in err.value.message + err.value.hint
    assert "secrets set" in err.value.hint


def test_a_failing_consumer_stops_the_dump(tmp_path: Path) -> None:
    pg = fake_bin(tmp_path, "while true; do echo data; done\n")

    def refuse(stream: io.BufferedReader) -> None:
        stream.read(10)
        raise DatabaseError("storage full")

    with pytest.raises(DatabaseError, match="storage full"):
        PgDump(pg).dump(server(), refuse, "backup of prod", 60)  # type: ignore[arg-type]


def test_a_stalled_dump_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    pg = fake_bin(tmp_path, "echo started\nexec sleep 30\n")  # a server that stops answering
    with pytest.raises(DatabaseError) as err:
        PgDump(pg).dump(server(), lambda stream: stream.read(), "backup of prod", 0.5)
    assert "took longer than 0.5s and was stopped" in err.value.message, err.value.message
    assert "database.backups.timeout" in err.value.hint


def test_a_failed_restore_names_the_server_masked(tmp_path: Path) -> None:
    pg = fake_bin(tmp_path, 'echo "pg_restore: error: could not execute query for $PGPASSWORD" >&2\nexit 1\n')
    with pytest.raises(DatabaseError) as err:
        PgDump(pg).restore(server(), tmp_path / "dump.pgc", "pg_restore of b-1")
    assert "pg_restore of b-1 of postgresql://app:**********@db.internal" in err.value.message
    assert "s3cr" not in err.value.message
