"""No secret value anywhere after a full scenario: every file under the home, every output.

Distinctive values are planted in the vault and used by the configuration, then a whole
day's work runs through the real CLI and API: two deployments, a rollback, ``config show``,
logs, a backup, an alert silence, the audit log, and a failed deployment whose error path
resolves the secret. Then every file Shipyard wrote (state and logs databases with their
WAL files, log files, releases, HAProxy's configuration) and every CLI and API output are
scanned for each value, plain, base64 and hex.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from tests.integration.conftest import Shipyard

pytestmark = pytest.mark.integration


def forms(value: str) -> dict[str, bytes]:
    raw = value.encode()
    return {
        "plain": raw,
        "base64": base64.b64encode(raw).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(raw).rstrip(b"="),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }


def found_in(values: list[str], haystacks: dict[str, bytes]) -> list[str]:
    """Where any form of any value occurs: ``<where>: <form> of <value's name>``."""
    hits = []
    for where, data in haystacks.items():
        for i, value in enumerate(values):
            for form, needle in forms(value).items():
                if needle[:-4] in data:  # a form's last characters depend on what follows it
                    hits.append(f"{where}: {form} of secret #{i}")
    return hits


def home_files(home: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in home.rglob("*")
        if p.is_file() and not p.is_symlink() and "venv" not in p.parts and p.name != "master.key"
    }


def test_no_secret_value_is_written_or_printed_after_a_full_scenario(shipyard: Shipyard) -> None:
    password = "pw-" + secrets.token_hex(16)
    api_token = "tok-" + secrets.token_hex(16)
    values = [password, api_token]
    outputs: dict[str, bytes] = {}

    def run(*args: str, check: bool = True, input: str = "") -> str:
        done = shipyard.cli(*args, check=check, input=input)
        outputs[f"shipyard {' '.join(args)} #{len(outputs)}"] = (done.stdout + done.stderr).encode()
        return done.stdout

    def get(path: str, **params: str) -> None:
        with shipyard.api() as api:
            outputs[f"GET {path} #{len(outputs)}"] = api.get(path, params=params).content

    shipyard.manifest["config"] = {
        "BILLING_URL": "https://billing:#{DB_PASSWORD}#@billing.example/api",
        "UPSTREAM_TOKEN": "#{API_TOKEN}#",
    }
    shipyard.manifest["config_schema"] = {"BILLING_URL": {"type": "url"}}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("secrets", "set", "dev", "DB_PASSWORD", input=password)  # values go in on stdin
    shipyard.cli("secrets", "set", "dev", "API_TOKEN", input=api_token)

    run("deploy", "dev")
    shipyard.use("v2")
    run("deploy", "dev")
    run("rollback", "dev")
    injected = [p.environ() for p in shipyard.processes() if "SHIPYARD_RELEASE" in p.environ()]
    assert injected and all(e["UPSTREAM_TOKEN"] == api_token for e in injected)  # the values flowed
    run("config", "show", "dev")
    run("status")
    run("releases")
    run("deployments", "dev")
    run("backup", "create", "dev")
    run("backup", "list", "dev")
    run("alerts", "silence", "env=dev", "--comment", "scan")
    run("alerts", "list")
    # a failed deployment whose error path resolves the secret: the URL it makes is not a URL
    shipyard.manifest["config"]["BILLING_URL"] = "not a url #{DB_PASSWORD}#"
    shipyard.write_manifest()
    failed = shipyard.cli("deploy", "dev", check=False)
    outputs["failed deploy"] = (failed.stdout + failed.stderr).encode()
    assert failed.returncode == 1 and "BILLING_URL" in failed.stderr
    run("config", "show", "dev", check=False)
    run("logs", "search", "dev", check=False)
    run("audit", "list", "--limit", "1000")
    for path in ("/api/status", "/api/releases", "/api/deployments", "/api/alerts", "/api/audit", "/metrics"):
        get(path)
    get("/api/config/dev")
    get("/api/logs/dev")
    get("/api/backups/dev")
    shipyard.cli("down")

    written = home_files(shipyard.home)
    assert {"state.db", "logs.db"} <= {Path(p).name for p in written}, sorted(written)
    assert any(p.endswith(".log") for p in written) and any("haproxy" in p for p in written)
    assert found_in(values, written) == []
    assert found_in(values, outputs) == []
    # the scan itself finds every form where there is one
    planted = {form: b"[" + needle + b"]" for form, needle in forms(password).items()}
    assert {hit.split(":")[0] for hit in found_in([password], planted)} == set(planted)
