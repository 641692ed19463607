"""Private files: the home's mode, 0600 writes, and secret files left out of release snapshots."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from shipyard.drivers.files import open_private_append, secure_home, write_atomic, write_json
from shipyard.drivers.runtime.builder import _ignore, is_secret_file
from shipyard.state.private import make_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_home_is_0700_and_a_loose_one_is_tightened_with_a_note(tmp_path: Path) -> None:
    assert secure_home(tmp_path / "new") is None
    assert mode(tmp_path / "new") == 0o700
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)
    assert secure_home(loose) == f"the home {loose} was 0755: tightened to 0700"
    assert mode(loose) == 0o700


def test_a_home_a_postgres_user_must_pass_through_is_0711(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    assert secure_home(home, traverse=True) is None  # opened up to pass-through, not looser
    assert mode(home) == 0o711


def test_writes_and_logs_are_0600(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a", "x")
    write_json(tmp_path / "b.json", {"k": 1})
    with open_private_append(tmp_path / "c.log") as log:
        log.write(b"line\n")
    assert [mode(tmp_path / n) for n in ("a", "b.json", "c.log")] == [0o600] * 3


def test_a_database_and_its_wal_are_tightened(tmp_path: Path) -> None:
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (tmp_path / name).write_text("")
        (tmp_path / name).chmod(0o644)
    make_private(tmp_path / "state.db")
    assert {mode(p) for p in tmp_path.iterdir()} == {0o600}


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        (".env", True),
        (".env.production", True),
        ("prod.sops.yaml", True),
        ("secrets.sops", True),
        (".sops.yaml", True),
        ("env.py", False),
        ("app.py", False),
        (".envrc", False),
    ],
)
def test_secret_file_names(name: str, secret: bool) -> None:
    assert is_secret_file(name) is secret


def test_snapshots_leave_secret_files_out_unless_named(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "config").mkdir(parents=True)
    for name in ("app.py", ".env", "config/.env.defaults", "config/db.sops.json"):
        (src / name).write_text("x")
    left_out: list[str] = []
    shutil.copytree(src, tmp_path / "out", ignore=_ignore(src, {"config/.env.defaults"}, left_out))
    copied = sorted(
        str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()
    )
    assert copied == ["app.py", "config/.env.defaults"]
    assert sorted(left_out) == [".env", "config/db.sops.json"]
