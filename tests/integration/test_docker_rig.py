"""The Docker test rig itself: a private daemon on its own socket, host networking only, and
the offline base image that runs Python."""

from __future__ import annotations

import socket

from tests.integration.docker_rig import BASE_IMAGE, DockerEngine
from tests.integration.ports import free_port
from tests.integration.receivers import wait_for


def answer(port: int) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.recv(100)
    except ConnectionRefusedError:
        return b""


def test_the_private_daemon_runs_the_offline_base_image_with_host_networking(
    docker_engine: DockerEngine,
) -> None:
    port = free_port()
    script = (
        "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); "
        "s.listen(); c,_=s.accept(); c.sendall(b'hello from the container'); c.close()"
    )
    container = docker_engine.client.containers.run(
        BASE_IMAGE, ["python3", "-c", script, str(port)], network_mode="host", detach=True
    )
    try:
        got = wait_for(lambda: answer(port), 20, "the container's answer")
        assert got == b"hello from the container"  # on the host's loopback: host networking
        assert container.wait(timeout=10)["StatusCode"] == 0
    finally:
        container.remove(force=True)
    assert docker_engine.url.startswith("unix:///tmp/sy-dockerd-")
    assert docker_engine.client.info()["DockerRootDir"].startswith("/tmp/sy-dockerd-")  # its own data root
