"""The master key's sources, their checks, and a rotation that survives a crash."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from shipyard.drivers.files import write_atomic
from shipyard.drivers.trust.keyfile import (
    ENV_VAR,
    encode_master_key,
    generate_master_key,
    load_master_key,
    load_pending_key,
    pending_key_path,
    promote_pending_key,
    read_key_file,
    write_key_file,
    write_pending_key,
)
from shipyard.errors import VaultError

KEY = bytes(range(32))
ENCODED = base64.b64encode(KEY).decode()


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "master.key"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_keys_are_random_32_bytes() -> None:
    keys = {generate_master_key() for _ in range(5)}
    assert len(keys) == 5 and {len(k) for k in keys} == {32}
    assert base64.b64decode(encode_master_key(KEY)) == KEY


def test_the_environment_variable_wins_over_the_file(key_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_key_file(key_path, generate_master_key())
    monkeypatch.setenv(ENV_VAR, ENCODED)
    loaded = load_master_key(key_path)
    assert loaded.key == KEY and loaded.source == ENV_VAR


def test_an_explicit_environ_mapping_is_used_instead_of_the_process_environment(key_path: Path) -> None:
    loaded = load_master_key(key_path, create=True, environ={ENV_VAR: ENCODED})
    assert loaded.key == KEY
    assert not key_path.exists()


def test_the_key_file_is_created_on_first_use_with_mode_0600(key_path: Path) -> None:
    first = load_master_key(key_path, create=True)
    assert key_path.exists() and mode_of(key_path) == 0o600
    assert first.source == str(key_path) and len(first.key) == 32
    assert load_master_key(key_path, create=True).key == first.key
    assert load_master_key(key_path).key == first.key
    assert [p.name for p in key_path.parent.iterdir()] == ["master.key"]


def test_creation_never_replaces_a_key_another_process_wrote_first(
    key_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_exists = Path.exists

    def racing_exists(self: Path) -> bool:
        if self == key_path and not real_exists(self):
            # another process creates its key right after our check said there was none
            write_atomic(key_path, ENCODED + "\n", mode=0o600)
            return False
        return real_exists(self)

    monkeypatch.setattr(Path, "exists", racing_exists)
    assert load_master_key(key_path, create=True).key == KEY
    assert read_key_file(key_path) == KEY
    assert [p.name for p in key_path.parent.iterdir()] == ["master.key"], "no staging file left"


def test_a_missing_file_is_an_error_when_not_creating(key_path: Path) -> None:
    with pytest.raises(VaultError, match=f"{key_path} does not exist") as caught:
        load_master_key(key_path)
    assert ENV_VAR in caught.value.hint
    assert not key_path.exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o620, 0o602])
def test_a_key_file_open_to_group_or_others_is_refused(key_path: Path, mode: int) -> None:
    write_key_file(key_path, KEY)
    key_path.chmod(mode)
    with pytest.raises(VaultError, match=f"group or others \\(mode {mode:04o}\\)") as caught:
        load_master_key(key_path)
    assert caught.value.hint == f"Run: chmod 600 {key_path}"


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_are_accepted(key_path: Path, mode: int) -> None:
    write_key_file(key_path, KEY)
    key_path.chmod(mode)
    assert load_master_key(key_path).key == KEY


def test_a_directory_is_not_a_key_file(key_path: Path) -> None:
    key_path.mkdir(parents=True)
    key_path.chmod(0o700)
    with pytest.raises(VaultError, match="not a regular file"):
        read_key_file(key_path)


MALFORMED = [
    ("not base64 at all!", "is not valid base64"),
    (base64.b64encode(b"short").decode(), "holds 5 bytes, a master key has 32"),
    (base64.b64encode(bytes(48)).decode(), "holds 48 bytes"),
    ("", "holds 0 bytes"),
    (ENCODED[:-2], "is not valid base64"),
    ("é" + ENCODED, "is not valid base64"),
]


@pytest.mark.parametrize(("content", "problem"), MALFORMED)
def test_a_malformed_key_file_names_the_file_but_not_the_content(
    key_path: Path, content: str, problem: str
) -> None:
    key_path.parent.mkdir(parents=True)
    key_path.write_text(content)
    key_path.chmod(0o600)
    with pytest.raises(VaultError) as caught:
        load_master_key(key_path)
    assert caught.value.message.startswith(f"the key file {key_path} ")
    assert problem in caught.value.message
    assert not content or content not in caught.value.message + caught.value.hint


@pytest.mark.parametrize(("content", "problem"), MALFORMED)
def test_a_malformed_environment_variable_names_the_variable_but_not_the_value(
    key_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, problem: str
) -> None:
    monkeypatch.setenv(ENV_VAR, content)
    with pytest.raises(VaultError) as caught:
        load_master_key(key_path, create=True)
    assert caught.value.message.startswith(f"the {ENV_VAR} environment variable ")
    assert problem in caught.value.message
    assert not content or content not in caught.value.message + caught.value.hint
    assert not key_path.exists()


def test_surrounding_whitespace_is_accepted(key_path: Path) -> None:
    key_path.parent.mkdir(parents=True)
    key_path.write_text(f"  {ENCODED}\n\n")
    key_path.chmod(0o600)
    assert read_key_file(key_path) == KEY


def test_write_key_file_refuses_to_overwrite(key_path: Path) -> None:
    write_key_file(key_path, KEY)
    with pytest.raises(VaultError, match="already exists"):
        write_key_file(key_path, generate_master_key())
    assert read_key_file(key_path) == KEY


def test_write_key_file_refuses_a_wrong_size(key_path: Path) -> None:
    with pytest.raises(VaultError, match="got 16"):
        write_key_file(key_path, bytes(16))
    assert not key_path.exists()


def test_rotation_pending_then_promoted(key_path: Path) -> None:
    write_key_file(key_path, KEY)
    assert load_pending_key(key_path) is None
    new = generate_master_key()
    pending = write_pending_key(key_path, new)
    assert pending == pending_key_path(key_path) == key_path.with_name("master.key.next")
    assert mode_of(pending) == 0o600
    assert read_key_file(key_path) == KEY, "the current key stays until promotion"
    resumed = load_pending_key(key_path)
    assert resumed is not None and resumed.key == new and resumed.source == str(pending)
    promote_pending_key(key_path)
    assert read_key_file(key_path) == new and mode_of(key_path) == 0o600
    assert not pending.exists() and load_pending_key(key_path) is None


def test_promoting_without_a_pending_key_fails_and_keeps_the_key(key_path: Path) -> None:
    write_key_file(key_path, KEY)
    with pytest.raises(VaultError, match=r"master\.key\.next does not exist"):
        promote_pending_key(key_path)
    assert read_key_file(key_path) == KEY


def test_a_pending_key_open_to_others_is_refused(key_path: Path) -> None:
    write_key_file(key_path, KEY)
    write_pending_key(key_path, generate_master_key()).chmod(0o644)
    with pytest.raises(VaultError, match="group or others"):
        load_pending_key(key_path)
    with pytest.raises(VaultError, match="group or others"):
        promote_pending_key(key_path)
    assert read_key_file(key_path) == KEY


def test_the_master_key_never_shows_in_its_repr(key_path: Path) -> None:
    loaded = load_master_key(key_path, create=True)
    assert repr(loaded.key) not in repr(loaded)
    assert encode_master_key(loaded.key) not in repr(loaded)
    assert str(key_path) in repr(loaded)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key_file_says_so(key_path: Path) -> None:
    write_key_file(key_path, KEY)
    key_path.chmod(0o000)
    with pytest.raises(VaultError, match="cannot be read"):
        read_key_file(key_path)
