"""A private OpenSSH server on a free loopback port, for pushes over git's SSH transport.

It runs Debian's ``sshd`` in the foreground with its own host key, its own authorized key (made
for the test) and no PAM, so it touches nothing of the machine's own SSH setup; ``git_ssh``
is the ``GIT_SSH_COMMAND`` that logs in with that key.
"""

from __future__ import annotations

import getpass
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class Sshd:
    port: int
    key: Path
    user: str

    @property
    def git_ssh(self) -> str:
        return (
            f"ssh -i {self.key} -p {self.port} -o IdentitiesOnly=yes -o BatchMode=yes"
            " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        )

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@contextmanager
def running_sshd(root: Path, port: int) -> Iterator[Sshd]:
    root.mkdir(parents=True)
    _keygen(root / "host_key")
    _keygen(root / "client_key")
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPidFile {root / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\n"
    )
    proc = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(root / "sshd.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"sshd did not start: {(root / 'sshd.log').read_text()}") from None
                time.sleep(0.05)
        yield Sshd(port, root / "client_key", getpass.getuser())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
