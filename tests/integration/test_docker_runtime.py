"""The docker runtime behind the ``Runtime`` interface, on a real Docker Engine (the rig):
what the engine gets (an endpoint, an opaque ref) and what stays inside (the container, its
labels, limits, logs and stats), and the errors of a missing image or an unreachable engine."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import yaml
from tests.integration.docker_rig import BASE_IMAGE, DockerEngine
from tests.integration.receivers import wait_for

from shipyard.core.records import Release
from shipyard.drivers.runtime.builder import Builder
from shipyard.drivers.runtime.docker_engine import DockerEngine as Engine
from shipyard.drivers.runtime.docker_runtime import DockerRuntime
from shipyard.drivers.runtime.images import ImageBuilder, Images
from shipyard.drivers.runtime.interface import InstanceSpec, OneOff
from shipyard.errors import InstanceError
from shipyard.manifest.loader import parse_manifest

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tinyapp"


@pytest.fixture(scope="module")
def release(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory, venv_cache: Path
) -> Release:
    root = tmp_path_factory.mktemp("docker-runtime")
    shutil.copytree(TINY, root / "app")
    data = yaml.safe_load((TINY / "shipyard.yaml").read_text())
    data |= {"runtime": "docker", "build": {"image": BASE_IMAGE}}
    data["processes"]["web"] |= {"cpus": 0.5, "memory": "64m"}
    made = ImageBuilder(Builder(root / "releases", venv_cache), Images(Engine(docker_engine.url)))
    return made.build(root / "app", parse_manifest(data), 1, yaml.safe_dump(data))


@pytest.fixture
def runtime(docker_engine: DockerEngine, tmp_path: Path) -> Iterator[DockerRuntime]:
    made = DockerRuntime(tmp_path / "home", Engine(docker_engine.url))
    yield made
    for ref in made.orphans(set()):
        made.stop(ref, 1.0)


def spec(release: Release, endpoint: str | None = None, command: str = "python app.py") -> InstanceSpec:
    return InstanceSpec(7, "dev", "blue", 0, release, command, {"GREETING": "hi"}, endpoint)


def get(endpoint: str, path: str = "/") -> httpx.Response | None:
    try:
        return httpx.get(f"http://{endpoint}{path}", timeout=2)
    except httpx.HTTPError:
        return None


def test_an_instance_is_a_labelled_limited_container_on_the_hosts_loopback(
    runtime: DockerRuntime, release: Release, docker_engine: DockerEngine
) -> None:
    started = runtime.start(spec(release))
    assert started.endpoint.startswith("127.0.0.1:")
    answer = wait_for(lambda: get(started.endpoint), 20, "the container's answer")
    assert answer.json() == {"app": "tiny", "version": "v1"}
    container_id = json.loads(started.ref)["container"]
    assert started.label == runtime.label(started.ref) == f"container {container_id[:12]}"
    container = docker_engine.client.containers.get(container_id)
    assert container.labels["io.shipyard.env"] == "dev" and container.labels["io.shipyard.colour"] == "blue"
    assert container.labels["io.shipyard.instance"] == "7" and container.labels["io.shipyard.app"] == "tiny"
    host = container.attrs["HostConfig"]
    assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 64 * 1024 * 1024
    assert host["NetworkMode"] == "host" and host["RestartPolicy"]["Name"] in ("", "no")
    assert (
        container.attrs["Config"]["Image"]
        == json.loads((Path(release.path) / "release.json").read_text())["image"]["id"]
    )  # started from exactly the recorded image
    assert runtime.alive(started.ref) and runtime.pid(started.ref)
    assert "tinyapp v1 listening on" in runtime.output_tail(started.ref)
    first = runtime.usage(started.ref)
    assert first is not None and first.rss_bytes > 0 and first.cpu is None
    second = runtime.usage(started.ref)
    assert second is not None and second.cpu is not None
    killed = runtime.stop(started.ref, 5.0)
    assert killed is False  # SIGTERM was enough
    assert not runtime.alive(started.ref) and runtime.usage(started.ref) is None


def test_a_restart_keeps_the_endpoint_and_orphans_are_found_by_label(
    runtime: DockerRuntime, release: Release
) -> None:
    first = runtime.start(spec(release))
    wait_for(lambda: get(first.endpoint), 20, "the first container")
    assert runtime.orphans({7}) == [] and runtime.orphans(set()) == [first.ref]
    get(first.endpoint, "/crash")
    wait_for(lambda: not runtime.alive(first.ref), 10, "the crash")
    again = runtime.start(spec(release, first.endpoint))
    assert again.endpoint == first.endpoint and again.ref != first.ref
    wait_for(lambda: get(again.endpoint), 20, "the restarted container")
    assert "crashing on request" in runtime.output_tail(first.ref)  # the crashed one's output stays


def test_output_streams_open_with_the_instance_marker_and_read_on_from_a_position(
    runtime: DockerRuntime, release: Release
) -> None:
    started = runtime.start(spec(release))
    wait_for(lambda: get(started.endpoint), 20, "the container")
    container_id = json.loads(started.ref)["container"]
    streams = [s for s in runtime.outputs() if container_id in s.key]
    assert {(s.env, s.instance, s.stream) for s in streams} == {
        ("dev", "blue-0", "stdout"),
        ("dev", "blue-0", "stderr"),
    }
    stdout = next(s for s in streams if s.stream == "stdout")
    got = runtime.read_output(stdout, None)
    assert got is not None
    lines, position = got
    assert lines[0].startswith(b"--- shipyard: starting instance 7 ")
    assert any(b"listening on" in line for line in lines)
    get(started.endpoint, "/hello")
    more = wait_for(lambda: runtime.read_output(stdout, position), 10, "new output")
    assert any(b"GET /hello" in line for line in more[0]) and not any(
        b"listening" in line for line in more[0]
    )


def test_a_one_off_command_runs_in_a_container_of_the_image_with_its_exit_status(
    runtime: DockerRuntime, release: Release
) -> None:
    ok = runtime.run_once(OneOff("dev", release, "cat version.txt; echo to-stderr >&2", {"A": "1"}, 30))
    assert ok.ok and "v1" in ok.output and "to-stderr" in ok.output
    failed = runtime.run_once(OneOff("dev", release, "echo migrating; exit 4", {}, 30))
    assert failed.code == 4 and "migrating" in failed.output
    slow = runtime.run_once(OneOff("dev", release, "sleep 30", {}, 1.0))
    assert slow.code is None and slow.seconds < 10  # killed at its time limit


def test_a_release_whose_image_is_gone_is_refused_with_a_hint(
    runtime: DockerRuntime, release: Release, tmp_path: Path
) -> None:
    root = tmp_path / "r9"
    root.mkdir()
    (root / "release.json").write_text(
        json.dumps({"image": {"tag": "shipyard/tiny:r9", "id": "sha256:" + "0" * 64}})
    )
    with pytest.raises(InstanceError) as caught:
        runtime.start(spec(replace(release, id="r9", path=str(root))))
    assert "r9's image shipyard/tiny:r9" in caught.value.message and "deploy again" in caught.value.hint
    (root / "release.json").write_text("{}")
    with pytest.raises(InstanceError, match="has no container image"):
        runtime.start(spec(replace(release, id="r9", path=str(root))))


def test_an_unreachable_docker_engine_is_an_instance_error_with_a_hint(
    release: Release, tmp_path: Path
) -> None:
    runtime = DockerRuntime(tmp_path, Engine("unix:///nonexistent.sock"))
    with pytest.raises(InstanceError) as caught:
        runtime.start(spec(release))
    assert "is not reachable" in caught.value.message and "DOCKER_HOST" in caught.value.hint
    assert (
        not runtime.alive('{"container": "abc"}') and runtime.outputs() == [] and runtime.orphans(set()) == []
    )
