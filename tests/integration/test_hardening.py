"""Bad input and file-level hardening end to end (issue 13): a real CLI, control plane, HAProxy
and instances. Each test reproduces what the security review did and checks it no longer works."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from tests.integration.conftest import Shipyard

pytestmark = pytest.mark.integration

INJECTION = "127.0.0.1\n    stats enable\n    stats admin if TRUE\n#"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_injected_bind_or_health_path_never_reaches_haproxy(shipyard: Shipyard) -> None:
    shipyard.manifest["environments"]["dev"]["bind"] = INJECTION
    shipyard.write_manifest()
    refused = shipyard.cli("validate", check=False)
    assert refused.returncode == 1
    assert "environments.dev.bind: " in refused.stderr and "is not an IPv4 address" in refused.stderr
    assert shipyard.cli("up", "--api-port", str(shipyard.api_port), check=False).returncode == 1
    assert not (shipyard.home / "proxy" / "haproxy.cfg").exists()

    # A running control plane re-reads the manifest at each deployment: refused there too.
    shipyard.manifest["environments"]["dev"]["bind"] = "127.0.0.1"
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy", "dev")
    config = (shipyard.home / "proxy" / "haproxy.cfg").read_text()
    shipyard.manifest["health"]["path"] = "/health\n    stats admin if TRUE"
    shipyard.write_manifest()
    again = shipyard.cli("deploy", "dev", check=False)
    assert again.returncode == 1
    assert "health.path: " in again.stderr and "is not a plain URL path" in again.stderr
    assert (shipyard.home / "proxy" / "haproxy.cfg").read_text() == config
    assert "stats admin" not in config
    assert shipyard.serving()["version"] == "1.0.0"  # v1 keeps serving


def test_duplicate_keys_in_the_manifest_are_refused_with_both_lines(shipyard: Shipyard) -> None:
    text = (shipyard.app / "shipyard.yaml").read_text()
    (shipyard.app / "shipyard.yaml").write_text(text + "app: other\n")
    refused = shipyard.cli("validate", check=False)
    assert refused.returncode == 1
    assert "key app is given twice, on lines 1 and" in refused.stderr


def test_a_lost_master_key_stops_up_instead_of_replacing_it(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("secrets", "set", "dev", "API_KEY", input="k-123")
    key = shipyard.home / "master.key"
    saved = key.read_bytes()
    shipyard.cli("down")
    key.unlink()

    refused = shipyard.cli("up", "--api-port", str(shipyard.api_port), check=False)
    assert refused.returncode == 1
    assert "control plane exited at start" in refused.stderr
    assert f"the master key file {key} is missing" in refused.stderr
    assert "SHIPYARD_MASTER_KEY" in refused.stderr
    assert not key.exists(), "no new key was made for a vault that holds secrets"

    key.write_bytes(saved)
    key.chmod(0o600)
    shipyard.up()
    assert shipyard.cli("secrets", "get", "dev", "API_KEY").stdout == "k-123"


def test_secret_size_limits_hold_for_set_and_import(shipyard: Shipyard, tmp_path: Path) -> None:
    shipyard.up()
    big = tmp_path / "big.env"
    big.write_text("BLOB=" + "x" * (5 * 1024 * 1024) + "\n")
    refused = shipyard.cli("secrets", "import", "dev", str(big), check=False)
    assert refused.returncode == 1
    assert "is 5.0 MiB; a file given to `secrets import` may be at most 1.0 MiB" in refused.stderr

    one = tmp_path / "one.env"
    one.write_text("SMALL=1\nLARGE=" + "y" * (100 * 1024) + "\n")
    refused = shipyard.cli("secrets", "import", "dev", str(one), check=False)
    assert refused.returncode == 1
    assert "secret 'LARGE' in 'dev' is 100 KiB; a secret's value may be at most 64 KiB" in refused.stderr
    assert "SMALL" not in shipyard.cli("secrets", "list", "dev").stdout  # all or none

    refused = shipyard.cli("secrets", "set", "dev", "LARGE", input="z" * (70 * 1024), check=False)
    assert refused.returncode == 1
    assert "longer than 64 KiB" in refused.stderr


def test_files_are_private_and_dotenv_stays_out_of_releases(shipyard: Shipyard) -> None:
    shipyard.home.mkdir(mode=0o755)
    shipyard.home.chmod(0o755)
    (shipyard.app / ".env").write_text("DB_PASSWORD=hunter2\n")
    (shipyard.app / "prod.sops.yaml").write_text("x: ENC[...]\n")
    shipyard.up()
    shipyard.cli("secrets", "set", "dev", "API_KEY", input="k-123")
    shipyard.cli("deploy", "dev")
    shipyard.add_note("private")
    shipyard.cli("backup", "create", "dev", "--reason", "modes")

    home = shipyard.home
    assert mode(home) == 0o700
    assert f"the home {home} was 0755: tightened to 0700" in (home / "server.log").read_text()
    releases = [p for p in (home / "releases").iterdir() if not p.name.startswith(".")]
    assert releases
    for rel in releases:
        assert not (rel / "app" / ".env").exists()
        assert not (rel / "app" / "prod.sops.yaml").exists()
        assert (rel / "app" / "app.py").exists()
    with shipyard.api() as api:
        dep = api.get("/api/deployments", params={"env": "dev"}).json()[0]["id"]
        events = api.get(f"/api/deployments/{dep}/events").json()["events"]
    warned = [e["message"] for e in events if e["step"] == "build" and "warning:" in e["message"]]
    assert warned and ".env" in warned[0] and "prod.sops.yaml" in warned[0]

    private = {
        "state.db": home / "state.db",
        "logs.db": home / "logs.db",
        "server.log": home / "server.log",
        "haproxy.cfg": home / "proxy" / "haproxy.cfg",
        "token": home / "token",
        "master.key": home / "master.key",
    }
    private.update({f"db-file {p.name}": p for p in home.glob("*.db-*")})
    private.update({f"log {p.name}": p for p in (home / "envs").rglob("*.log")})
    private.update({f"app db {p.name}": p for p in (home / "envs").rglob("notes.db*")})
    backups = [p for p in home.rglob("*") if "backups" in p.parts and p.is_file()]
    assert backups, "the backup wrote files under the home"
    private.update({f"backup {p.name}": p for p in backups})
    loose = {what: f"{mode(p):04o}" for what, p in private.items() if mode(p) & 0o077}
    assert loose == {}
    assert any(name.startswith("app db") for name in private)
    assert any(name.startswith("log ") for name in private)
