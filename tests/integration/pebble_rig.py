"""Debian's pebble (an RFC 8555 test CA) and pebble-challtestsrv (its DNS: every name is
127.0.0.1, no IPv6) on free ports, for the ACME tests.

Pebble's own HTTPS uses a certificate from the tests' CA (``tests/unit/ca.py``), whose root is the
``ca_bundle`` Shipyard is given; it validates HTTP-01 on ``http_port`` (the environment's HTTP
listener, where HAProxy answers). ``roots()`` is the root pebble signs issued certificates with
(its management ``/roots/0``), which HTTPS answers are verified against. ``stop``/``start`` take
the ACME server down and bring it back (its account and orders are in memory: a new root too).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from tests.integration.ports import free_port
from tests.unit.ca import CA


class Pebble:
    def __init__(self, folder: Path, http_port: int) -> None:
        if not shutil.which("pebble") or not shutil.which("pebble-challtestsrv"):
            pytest.fail("pebble is not installed: run scripts/setup.sh (apt-get install -y pebble)")
        self.folder = folder
        self.ca = CA()
        self.bundle = folder / "pebble-ca.pem"
        self.bundle.write_text(self.ca.pem)
        served = self.ca.issue("localhost")
        (folder / "pebble-cert.pem").write_text(served.cert)
        (folder / "pebble-key.pem").write_text(served.key)
        self.port, self.management, self.dns = free_port(), free_port(), free_port()
        self.config = folder / "pebble.json"
        self.config.write_text(
            json.dumps(
                {
                    "pebble": {
                        "listenAddress": f"127.0.0.1:{self.port}",
                        "managementListenAddress": f"127.0.0.1:{self.management}",
                        "certificate": str(folder / "pebble-cert.pem"),
                        "privateKey": str(folder / "pebble-key.pem"),
                        "httpPort": http_port,
                        "tlsPort": free_port(),
                        "ocspResponderURL": "",
                        "externalAccountBindingRequired": False,
                    }
                }
            )
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        self._dns()
        self.start()

    @property
    def directory(self) -> str:
        return f"https://localhost:{self.port}/dir"

    def _dns(self) -> None:
        command = [
            "pebble-challtestsrv",
            *("-dns01", f"127.0.0.1:{self.dns}", "-management", f"127.0.0.1:{free_port()}"),
            *("-http01", "", "-https01", "", "-tlsalpn01", ""),
            *("-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""),
        ]
        self.procs.append(self._spawn(command, "challtestsrv.log"))

    def start(self) -> None:
        command = ["pebble", "-config", str(self.config), "-dnsserver", f"127.0.0.1:{self.dns}"]
        self.pebble = self._spawn(command, "pebble.log")
        self.procs.append(self.pebble)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                httpx.get(self.directory, verify=self._trust(), timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"pebble did not start: {(self.folder / 'pebble.log').read_text()[-500:]}")

    def stop(self) -> None:
        self.pebble.terminate()
        self.pebble.wait(10)

    def roots(self) -> str:
        """The root pebble signs certificates with (PEM)."""
        url = f"https://localhost:{self.management}/roots/0"
        return httpx.get(url, verify=self._trust(), timeout=5).text

    def _trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca.pem)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)

    def _spawn(self, command: list[str], log: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
        with open(self.folder / log, "ab") as out:
            return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
