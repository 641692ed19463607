"""The secrets vault end to end: real CLI, control plane, SQLite, instances and HAProxy."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import psutil
import pytest
from tests.integration.conftest import Shipyard

pytestmark = pytest.mark.integration


def as_user(shipyard: Shipyard, token: str, *args: str, input: str = "") -> tuple[int, str, str]:
    done = shipyard.cli(*args, check=False, env={**shipyard.env, "SHIPYARD_TOKEN": token}, input=input)
    return done.returncode, done.stdout, done.stderr


def instance_env(shipyard: Shipyard) -> dict[str, str]:
    """The environment of a running instance of the release that serves, as the kernel holds it."""
    serving = shipyard.status()["active_release"]
    for proc in shipyard.processes():
        env = proc.environ()
        if env.get("SHIPYARD_RELEASE") == serving and proc.is_running():
            return dict(env)
    raise AssertionError(f"no running instance of {serving} found")


def written_bytes(root: Path) -> bytes:
    """Everything Shipyard wrote under its home (state store, logs, HAProxy files, releases)."""
    chunks = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and "venv" not in path.parts:
            chunks.append(path.read_bytes())
    return b"\n".join(chunks)


def test_secrets_are_versioned_role_checked_injected_and_never_written_in_clear(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    db_password = "pw-" + secrets.token_hex(12)
    api_key = "key-" + secrets.token_hex(12)
    newer = "pw2-" + secrets.token_hex(12)
    imported = "imp-" + secrets.token_hex(12)
    values = (db_password, api_key, newer, imported)
    outputs: list[str] = []  # everything the CLI printed, but the two commands that print values

    def run(*args: str, input: str = "") -> str:
        done = shipyard.cli(*args, input=input)
        outputs.append(done.stdout + done.stderr)
        return done.stdout

    shipyard.up()
    run("secrets", "set", "dev", "DB_PASSWORD", input=db_password)
    run("secrets", "set", "dev", "API_KEY", "--rotate-every", "90d", input=api_key + "\n")
    assert shipyard.cli("secrets", "get", "dev", "API_KEY").stdout == api_key  # trailing newline dropped

    # check-and-set: a write based on a stale version is refused, the value stays
    stale = shipyard.cli("secrets", "set", "dev", "DB_PASSWORD", "--cas", "0", input="x", check=False)
    outputs.append(stale.stdout + stale.stderr)
    assert stale.returncode == 1 and "changed since you read it" in stale.stderr
    assert "--cas 1" in stale.stderr
    listed = run("secrets", "list", "dev")
    assert "DB_PASSWORD" in listed and "API_KEY" in listed and "90d" in listed

    # roles: a deployer lists names but cannot read values; a secrets-reader can, and only that
    dana = shipyard.cli("users", "add", "dana", "--role", "deployer", "--env", "dev").stdout.strip()
    sam = shipyard.cli("users", "add", "sam", "--role", "secrets-reader", "--env", "dev").stdout.strip()
    code, out, _ = as_user(shipyard, dana, "secrets", "list", "dev")
    assert code == 0 and "API_KEY" in out
    code, _, err = as_user(shipyard, dana, "secrets", "get", "dev", "API_KEY")
    assert code == 1 and "may not secrets-read in environment 'dev'" in err
    code, out, _ = as_user(shipyard, sam, "secrets", "get", "dev", "DB_PASSWORD")
    assert code == 0 and out == db_password
    code, _, err = as_user(shipyard, sam, "secrets", "set", "dev", "DB_PASSWORD", input="nope")
    assert code == 1 and "may not secrets-write" in err

    # the deployed app gets its secrets as environment variables
    run("deploy", "dev")
    env = instance_env(shipyard)
    assert env["DB_PASSWORD"] == db_password and env["API_KEY"] == api_key
    # a new version reaches the app at its next deployment; history keeps both
    run("secrets", "set", "dev", "DB_PASSWORD", input=newer)
    assert "2 (current)" in run("secrets", "history", "dev", "DB_PASSWORD")
    assert shipyard.cli("secrets", "get", "dev", "DB_PASSWORD", "--version", "1").stdout == db_password
    run("deploy", "dev")
    assert instance_env(shipyard)["DB_PASSWORD"] == newer

    # soft delete, recover; purge only after delete
    run("secrets", "delete", "dev", "API_KEY")
    gone = shipyard.cli("secrets", "get", "dev", "API_KEY", check=False)
    assert gone.returncode == 1 and "is deleted" in gone.stderr
    refused = shipyard.cli("secrets", "purge", "dev", "DB_PASSWORD", "--yes", check=False)
    assert refused.returncode == 1 and "is not deleted" in refused.stderr
    run("secrets", "recover", "dev", "API_KEY")
    assert "API_KEY" in run("secrets", "due", "--within", "100d")

    # import from .env, export to .env
    dotenv = tmp_path / "in.env"
    dotenv.write_text(f"# team secrets\nexport SMTP_PASSWORD='{imported}'\nSENTRY_DSN=https://k@example/1\n")
    assert "2 secrets imported" in run("secrets", "import", "dev", str(dotenv))
    again = shipyard.cli("secrets", "import", "dev", str(dotenv), check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    out_file = tmp_path / "out.env"
    run("secrets", "export", "dev", "-o", str(out_file))
    assert out_file.stat().st_mode & 0o777 == 0o600
    exported = out_file.read_text()
    assert f"SMTP_PASSWORD={imported}" in exported and f"DB_PASSWORD={newer}" in exported
    out_file.unlink()

    # master-key rotation: values still read, the key file changed
    key_before = (shipyard.home / "master.key").read_text()
    assert "master key rotated" in run("secrets", "rotate-key")
    assert (shipyard.home / "master.key").read_text() != key_before
    assert shipyard.cli("secrets", "get", "dev", "SMTP_PASSWORD").stdout == imported

    # every read of a value is audited (by whom), and the runtime's injection too
    audit = run("audit", "list", "--limit", "200")
    assert "sam secrets.read DB_PASSWORD in dev from 127.0.0.1: ok" in audit
    assert "dana secrets.read API_KEY in dev from 127.0.0.1: denied" in audit
    assert "runtime secrets.use instance dev/" in audit
    assert "verified" in run("audit", "verify")

    # no value anywhere Shipyard writes: files under its home, CLI output, the status API
    shipyard.cli("down")
    written = written_bytes(shipyard.home)
    printed = "\n".join(outputs)
    for value in values:
        assert value.encode() not in written, f"a secret value was written under {shipyard.home}"
        assert value not in printed


def test_a_wrong_master_key_refuses_reads_and_loses_nothing(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("secrets", "set", "dev", "TOKEN", input="s3cret-value")
    shipyard.cli("down")
    wrong = "A" * 43 + "="  # base64 of 32 bytes, not the vault's key
    shipyard.up(SHIPYARD_MASTER_KEY=wrong)
    failed = shipyard.cli("secrets", "get", "dev", "TOKEN", check=False)
    assert failed.returncode == 1
    assert "the master key does not match the one environment 'dev' was sealed with" in failed.stderr
    assert "SHIPYARD_MASTER_KEY" in failed.stderr  # the hint says how to fix it
    deploy = shipyard.cli("deploy", "dev", check=False)
    assert deploy.returncode == 1  # an app whose secrets cannot be read is not started
    shipyard.cli("down")
    shipyard.up()
    assert shipyard.cli("secrets", "get", "dev", "TOKEN").stdout == "s3cret-value"


def test_a_corrupted_vault_row_is_named_and_other_secrets_still_read(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("secrets", "set", "dev", "GOOD", input="fine")
    shipyard.cli("secrets", "set", "dev", "BAD", input="soon-broken")
    with sqlite3.connect(shipyard.home / "state.db") as db:
        db.execute(
            "UPDATE secret_versions SET ciphertext = CAST(x'01' || randomblob(40) AS BLOB) WHERE name='BAD'"
        )
    failed = shipyard.cli("secrets", "get", "dev", "BAD", check=False)
    assert failed.returncode == 1
    assert "secret 'BAD' (version 1) of environment 'dev' does not decrypt" in failed.stderr
    assert shipyard.cli("secrets", "get", "dev", "GOOD").stdout == "fine"
    assert psutil.pid_exists(shipyard.server_pid())  # the control plane keeps running
