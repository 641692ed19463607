"""Bad input and faults on ``runtime: docker`` (issue 16 item 6), through the real control
plane: a Docker Engine that does not answer (also a swarm manager), a Dockerfile that fails to
build and an image that does not start are each a clear error with a hint, and the serving
version keeps serving."""

from __future__ import annotations

import pytest
from tests.integration.conftest import Shipyard
from tests.integration.docker_rig import BASE_IMAGE, DockerEngine
from tests.integration.tinyapp import use_tinyapp

pytestmark = pytest.mark.integration


def failed_deploy(sy: Shipyard) -> str:
    done = sy.cli("deploy", check=False)
    assert done.returncode != 0, done.stdout
    return done.stdout + done.stderr


@pytest.mark.parametrize("runtime", ["docker", "swarm"])
def test_an_unreachable_docker_engine_fails_the_build_with_a_hint(shipyard: Shipyard, runtime: str) -> None:
    use_tinyapp(shipyard, "unix:///nonexistent/docker.sock")
    if runtime == "swarm":  # the manager's Engine API: the same message
        shipyard.manifest |= {"runtime": "swarm", "registry": {"address": "127.0.0.1:5999"}}
        shipyard.write_manifest()
    shipyard.up()
    out = failed_deploy(shipyard)
    assert "Docker Engine at unix:///nonexistent/docker.sock is not reachable" in out
    assert "DOCKER_HOST" in out  # the hint


def test_a_dockerfile_that_fails_shows_its_build_log_and_the_serving_version_keeps_serving(
    shipyard: Shipyard, docker_engine: DockerEngine
) -> None:
    use_tinyapp(shipyard, docker_engine.url)
    shipyard.up()
    shipyard.cli("deploy")
    (shipyard.app / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nCOPY . /app\nRUN echo compiling && echo 'assets: error in main.css' && false\n"
    )
    out = failed_deploy(shipyard)
    assert "image build of r2 failed" in out and "assets: error in main.css" in out
    assert "fix the Dockerfile" in out
    assert shipyard.serving()["version"] == "v1"


def test_an_image_that_does_not_start_is_refused_and_the_serving_version_keeps_serving(
    shipyard: Shipyard, docker_engine: DockerEngine
) -> None:
    use_tinyapp(shipyard, docker_engine.url)
    shipyard.manifest["strategy"]["blue_green"]["max_restarts"] = 1
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    (shipyard.app / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")  # no shell, no Python
    out = failed_deploy(shipyard)
    assert "migrate" in out and "exec /bin/sh failed" in out  # the migration's one-off container
    shipyard.manifest.pop("database")
    shipyard.write_manifest()
    out = failed_deploy(shipyard)
    assert "keeps crashing" in out and "exec /bin/sh failed" in out  # the instance's last output
    assert "processes.web.command" in out  # the hint
    assert shipyard.serving()["version"] == "v1"
