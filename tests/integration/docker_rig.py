"""The Docker test rig: a private ``dockerd`` per xdist worker and a small Python base image.

Used by the docker tests only (the ``docker_engine`` fixture of ``conftest.py``). Each worker
starts Debian's ``dockerd`` with its own data root, exec root and unix socket under a short
temporary folder, with host networking only (``--bridge=none --iptables=false
--ip-masq=false``: no bridge, no NAT; containers use ``network_mode="host"``). No image comes
from a hub: the base image (Debian bookworm minbase with python3 and python3-venv) is made with
``debootstrap`` once, its root file system kept as a tarball outside the checkout
(``~/.cache/shipyard-test/``, or ``$SHIPYARD_TEST_IMAGE_CACHE``), built under a file lock so that
parallel workers build it once, and ``docker import``-ed into each worker's daemon. At the end
the rig removes every container, stops the daemon and unmounts what it left mounted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

BASE_REPO, BASE_TAG = "shipyard-test/python", "bookworm"
BASE_IMAGE = f"{BASE_REPO}:{BASE_TAG}"
MIRROR = os.environ.get("SHIPYARD_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = "python3,python3-venv"


def cache_dir() -> Path:
    own = os.environ.get("SHIPYARD_TEST_IMAGE_CACHE")
    return Path(own) if own else Path.home() / ".cache" / "shipyard-test"


def base_rootfs() -> Path:
    """The base image's root file system as a tarball, made once with debootstrap (~1 min)."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / "python-bookworm-rootfs.tar"
    with open(folder / ".rootfs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second worker waits here, then finds the tarball
        if not tarball.exists():
            _debootstrap(folder, tarball)
    return tarball


def _debootstrap(folder: Path, tarball: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="rootfs-", dir=folder))
    try:
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(root), MIRROR],
            check=True,
            capture_output=True,
            timeout=900,
        )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / junk, ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True, timeout=300)
        os.replace(partial, tarball)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class DockerEngine:
    """A running private dockerd: its socket's URL and an SDK client on it."""

    root: Path
    process: subprocess.Popen[bytes]
    client: docker.DockerClient
    setup_s: float  # how long the daemon and the base image took to be ready

    @property
    def url(self) -> str:
        return f"unix://{self.root / 'docker.sock'}"


def start_engine(netns: str | None = None, flags: Sequence[str] = ()) -> DockerEngine:
    """Start a private dockerd and import the base image into it; ``netns``: in that network
    namespace (a path such as ``/run/netns/NAME``), so its host-network containers are too;
    ``flags``: more of dockerd's options."""
    started = time.monotonic()
    tarball = base_rootfs()
    root = Path(tempfile.mkdtemp(prefix="sy-dockerd-", dir="/tmp"))  # short: a socket path < 108
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 (the daemon writes it until it stops)
    process = subprocess.Popen(
        [
            *(["nsenter", f"--net={netns}"] if netns else []),  # nsenter execs: the pid is dockerd's
            "dockerd",
            f"--data-root={root / 'data'}",
            f"--exec-root={root / 'exec'}",
            f"--pidfile={root / 'dockerd.pid'}",
            f"--host=unix://{root / 'docker.sock'}",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            *flags,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    try:
        client = _wait_ready(root, process)
    except BaseException:
        _stop_daemon(root, process)
        raise
    engine = DockerEngine(root, process, client, 0.0)
    try:
        with open(tarball, "rb") as data:
            client.api.import_image_from_data(data.read(), repository=BASE_REPO, tag=BASE_TAG)
    except BaseException:
        stop_engine(engine)
        raise
    engine.setup_s = time.monotonic() - started
    return engine


def _wait_ready(root: Path, process: subprocess.Popen[bytes], timeout: float = 60.0) -> docker.DockerClient:
    """A client of the daemon once it answers (the SDK asks its API version on connecting)."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            log = (root / "dockerd.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"dockerd exited {process.returncode}:\n{log}")
        with contextlib.suppress(docker.errors.DockerException, OSError):
            client = docker.DockerClient(base_url=f"unix://{root / 'docker.sock'}", timeout=120)
            if client.ping():
                return client
        if time.monotonic() > deadline:
            raise RuntimeError("dockerd did not answer within 60s")
        time.sleep(0.1)


def stop_engine(engine: DockerEngine) -> None:
    """Remove every container, stop the daemon, unmount what it left, remove its folder."""
    with contextlib.suppress(docker.errors.DockerException, OSError):
        for container in engine.client.containers.list(all=True):
            container.remove(force=True)
    engine.client.close()
    _stop_daemon(engine.root, engine.process)


def _stop_daemon(root: Path, process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for mount in _mounts_under(root):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    """Mount points below ``root`` (its netns file, overlay layers), deepest first."""
    prefix = str(root) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    return sorted(points, key=len, reverse=True)


@contextlib.contextmanager
def engine() -> Iterator[DockerEngine]:
    made = start_engine()
    try:
        yield made
    finally:
        stop_engine(made)
