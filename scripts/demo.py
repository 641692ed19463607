"""The demo: deploys the notes example to `dev` with a secret from the vault, then v2 (its
migration runs behind a fresh backup), rolls back, tries a broken version, verifies a
backup, runs a disaster-recovery drill, and shows the central logs, alerts and the audit log.

Run by `make demo` after scripts/setup.sh. Leaves the control plane and app running so
you can look around; `make down` stops everything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "notes"
WORK = ROOT / ".demo"
APP = WORK / "notes"
HOME = WORK / "home"
SHIPYARD = [sys.executable, "-m", "shipyard", "--home", str(HOME), "--app-dir", str(APP)]


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def shipyard(*args: str, check: bool = True, stdin: str | None = None) -> int:
    code = subprocess.run([*SHIPYARD, *args], check=False, input=stdin, text=True).returncode
    if check and code != 0:
        sys.exit(code)
    return code


def use(version: str) -> None:
    for item in (EXAMPLE / version).iterdir():
        shutil.copy2(item, APP / item.name)


def show_app(url: str) -> None:
    body = httpx.get(url, trust_env=False, timeout=5).text
    print(f"   GET {url} -> {body}", flush=True)


def main() -> None:
    if (HOME / "server.json").exists():
        say("stopping the previous demo")
        shipyard("down", check=False)
    APP.mkdir(parents=True, exist_ok=True)
    shutil.copy2(EXAMPLE / "shipyard.yaml", APP / "shipyard.yaml")
    use("v1")
    url = "http://127.0.0.1:8080/"

    say("starting the control plane (API on 127.0.0.1:7310, HAProxy, supervisor)")
    shipyard("up")
    say("a secret in the vault (encrypted, versioned, audited): the app gets it as $API_KEY")
    shipyard("secrets", "set", "dev", "API_KEY", "--rotate-every", "90d", stdin="demo-" + os.urandom(8).hex())
    shipyard("secrets", "list", "dev")
    say("deploying v1 to dev")
    shipyard("deploy", "dev")
    print(f"\n   app: {url}\n   API: http://127.0.0.1:7310/api/status (token in {HOME / 'token'})")
    show_app(url)

    say("deploying v2: its migration adds a tags column (expand-only), after a fresh backup")
    use("v2")
    shipyard("deploy", "dev")
    show_app(url)
    shipyard("backup", "list", "dev")

    say("rolling back to v1: the old colour is still running, so it is one weight change")
    shipyard("rollback", "dev")
    show_app(url)

    say("trying a broken version: its /health never passes, so the deploy must fail")
    use("broken")
    code = shipyard("deploy", "dev", check=False)
    print(f"   deploy exited {code} (expected 1); still serving:", flush=True)
    show_app(url)
    use("v1")

    say("verifying the newest backup: restored in a scratch folder, checksums and integrity checked")
    shipyard("backup", "verify", "dev")
    say("a disaster-recovery drill: a marker row, the database declared lost, restored, RTO and RPO")
    shipyard("drill", "dev")

    say("status, history, the central logs, alerts and the audit log")
    shipyard("status")
    shipyard("deployments", "dev", "--limit", "5")
    shipyard("logs", "dev", "--level", "warn", "-n", "5")
    shipyard("alerts", "list")
    shipyard("audit", "list", "--limit", "8")
    time.sleep(0.1)
    print(
        f"\nThe demo keeps running: try `curl {url}`, "
        f"`.venv/bin/shipyard --home {HOME.relative_to(ROOT)} status`; stop with `make down`."
    )


if __name__ == "__main__":
    main()
