"""The Swarm runtime's pure parts (``core/swarm.py``) and the manifest's ``registry:`` and
``placement`` rules; the runtime itself is tested on a real swarm (``test_swarm_runtime.py``)."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

import pytest
from tests.unit.test_manifest import base, error_of

from shipyard.core import swarm
from shipyard.drivers.runtime.registry import Credentials, vault_login
from shipyard.errors import BuildError
from shipyard.manifest.loader import parse_manifest
from shipyard.manifest.registry import Registry


def test_secrets_are_split_from_the_plain_environment() -> None:
    plain, hidden = swarm.split_secrets({"A": "1", "TOKEN": "s", "PORT": "9"}, frozenset({"TOKEN", "GONE"}))
    assert plain == {"A": "1", "PORT": "9"} and hidden == {"TOKEN": "s"}


def test_the_task_shell_exports_the_mounted_secrets_before_the_command(tmp_path: Any) -> None:
    argv = swarm.task_shell("echo $TOKEN-$OTHER", ["TOKEN", "OTHER"])
    script = argv[2].replace(swarm.SECRETS_AT, str(tmp_path))
    (tmp_path / "TOKEN").write_text("t0k")
    (tmp_path / "OTHER").write_text("a b")
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout == "t0k-a b\n"
    assert argv[:2] == ["/bin/sh", "-c"] and "t0k" not in argv[2]


def test_a_secret_name_follows_its_value() -> None:
    one = swarm.secret_name("abc", "dev", "TOKEN", "v1")
    assert one == swarm.secret_name("abc", "dev", "TOKEN", "v1")
    assert one != swarm.secret_name("abc", "dev", "TOKEN", "v2")
    assert "v1" not in one and len(one) <= 64


def test_service_names_fit_swarm_and_memory_units() -> None:
    assert swarm.service_name("k" * 10, "production-eu-west", "worker-long-name-blue-3", 123456)[:3] == "sy-"
    assert len(swarm.service_name("k" * 10, "e" * 40, "n" * 40, 1)) <= 63
    assert swarm.memory_bytes("256m") == 256 * 1024**2
    assert swarm.memory_bytes("2g") == 2 * 1024**3
    assert swarm.memory_bytes("4096") == 4096 and swarm.memory_bytes(None) is None


def test_swarm_needs_a_registry_and_placement_needs_swarm() -> None:
    assert "runtime: swarm needs `registry:`" in error_of(base(runtime="swarm")).message
    placed = base(runtime="docker")
    placed["processes"]["web"]["placement"] = ["node.role==worker"]
    assert "placement places Swarm tasks" in error_of(placed).message
    ok = base(runtime="swarm", registry={"address": "127.0.0.1:5000"})
    ok["processes"]["web"]["placement"] = ["node.role==worker"]
    manifest = parse_manifest(ok)
    assert manifest.processes["web"].placement == ("node.role==worker",)


@pytest.mark.parametrize(
    "registry", [{"address": "Bad Host"}, {"address": "r:5000", "username": "me"}, {"address": "r", "x": 1}]
)
def test_a_bad_registry_is_refused(registry: dict[str, Any]) -> None:
    assert "registry" in error_of(base(registry=registry)).message


class Vault:
    def __init__(self, values: dict[str, str]) -> None:
        self.read: list[str] = []
        self.values_ = values

    def values(self, env: str, purpose: str = "", actor: str = "runtime") -> dict[str, str]:
        self.read.append(env)
        return self.values_

    def value(self, env: str, name: str, purpose: str, actor: str = "runtime") -> str | None:
        self.read.append(env)
        return self.values_.get(name)

    def versions(self, env: str) -> dict[str, int]:
        return {}


def test_registry_credentials_come_from_the_vault_and_never_show() -> None:
    registry = Registry(address="r:5000", username="ci", password_secret="REG_PW", secret_environment="prod")
    vault = Vault({"REG_PW": "hunter2"})
    login = vault_login(registry, vault, "dev")
    assert login == Credentials("ci", "hunter2") and vault.read == ["prod"]
    assert "hunter2" not in repr(login)
    assert vault_login(Registry(address="r:5000"), vault, "dev") is None
    with pytest.raises(BuildError) as missing:
        vault_login(registry, Vault({}), "dev")
    assert "shipyard secrets set prod REG_PW" in missing.value.hint


def test_the_pre_stop_shell_serves_on_then_passes_the_signal_and_the_status() -> None:
    script = swarm.task_shell(
        "trap 'echo got-term; exit 7' TERM; echo up; while :; do sleep 0.05; done", [], 0.5
    )
    shell = subprocess.Popen(script, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert shell.stdout is not None and shell.stdout.readline() == "up\n"
    signalled = time.monotonic()
    shell.send_signal(signal.SIGTERM)
    assert shell.wait(10) == 7
    assert time.monotonic() - signalled >= 0.5  # served on for the pre-stop time first
    assert shell.stdout.read() == "got-term\n"


def test_the_pre_stop_shell_ends_with_the_command_status() -> None:
    done = subprocess.run(swarm.task_shell("echo once; exit 3", [], 5), capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (3, "once\n")
