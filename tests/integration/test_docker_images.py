"""Images from releases (``runtime: docker``): built through the Docker Engine API from a
generated Dockerfile (layer-cache order, non-root, HEALTHCHECK) or the app's own, tagged with
the release id and recorded in the release; a failing Dockerfile is a clear build error."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.docker_rig import BASE_IMAGE, DockerEngine

from shipyard.core.records import Release
from shipyard.drivers.runtime.builder import Builder
from shipyard.drivers.runtime.docker_engine import DockerEngine as Engine
from shipyard.drivers.runtime.images import ImageBuilder, Images, recorded_image
from shipyard.errors import BuildError
from shipyard.manifest.loader import parse_manifest
from shipyard.manifest.models import Manifest

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tinyapp"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    shutil.copytree(TINY, folder)
    return folder


def manifest(app: Path, **extra: Any) -> tuple[Manifest, str]:
    data = yaml.safe_load((app / "shipyard.yaml").read_text())
    data |= {"runtime": "docker", "build": {"image": BASE_IMAGE}, **extra}
    text = yaml.safe_dump(data)
    return parse_manifest(data), text


def builder(engine: DockerEngine, tmp_path: Path, venv_cache: Path) -> ImageBuilder:
    files = Builder(tmp_path / "releases", venv_cache)
    return ImageBuilder(files, Images(Engine(engine.url)))


def build(made: ImageBuilder, app: Path, number: int, notes: list[str] | None = None) -> Release:
    parsed, text = manifest(app)
    return made.build(app, parsed, number, text, (notes if notes is not None else []).append)


def layers(engine: DockerEngine, release: Release) -> list[str]:
    image = engine.client.images.get(recorded_image(release).id)
    return list(image.attrs["RootFS"]["Layers"])


def test_a_release_becomes_an_image_tagged_with_its_id_non_root_with_its_health_check(
    docker_engine: DockerEngine, app: Path, tmp_path: Path, venv_cache: Path
) -> None:
    notes: list[str] = []
    release = build(builder(docker_engine, tmp_path, venv_cache), app, 1, notes)
    recorded = recorded_image(release)
    assert recorded.tag == "shipyard/tiny:r1"
    image = docker_engine.client.images.get("shipyard/tiny:r1")
    assert image.id == recorded.id  # the tag names exactly the recorded image
    config = image.attrs["Config"]
    assert config["User"] == "10001:10001"
    assert config["Healthcheck"]["Test"][0] == "CMD" and "/health" in config["Healthcheck"]["Test"][-1]
    assert config["Cmd"] == ["/bin/sh", "-c", "python app.py"]
    assert any("image shipyard/tiny:r1" in note for note in notes)
    out = docker_engine.client.containers.run(recorded.id, ["cat", "/app/version.txt"], remove=True)
    assert out == b"v1\n"  # the release's files are in the image


def test_the_dependency_layer_is_reused_until_the_requirements_change(
    docker_engine: DockerEngine, app: Path, tmp_path: Path, venv_cache: Path
) -> None:
    made = builder(docker_engine, tmp_path, venv_cache)
    first = layers(docker_engine, build(made, app, 1))
    (app / "version.txt").write_text("v2\n")
    second = layers(docker_engine, build(made, app, 2))
    # base, venv, requirements, their install: the same layers; the app's files: a new one
    assert second[:4] == first[:4] and second[4] != first[4]
    (app / "requirements.txt").write_text("# still none, but a different file\n")
    third = layers(docker_engine, build(made, app, 3))
    assert third[:2] == first[:2] and third[2] != first[2]  # from the requirements on, rebuilt


def test_the_apps_own_dockerfile_is_used_when_it_has_one(
    docker_engine: DockerEngine, app: Path, tmp_path: Path, venv_cache: Path
) -> None:
    (app / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nCOPY . /srv\nLABEL made.by=the-app\n")
    release = build(builder(docker_engine, tmp_path, venv_cache), app, 1)
    image = docker_engine.client.images.get(recorded_image(release).id)
    assert image.labels["made.by"] == "the-app" and image.labels["shipyard.release"] == "r1"


def test_a_dockerfile_that_fails_is_a_build_error_with_its_log_lines(
    docker_engine: DockerEngine, app: Path, tmp_path: Path, venv_cache: Path
) -> None:
    (app / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\nRUN echo compiling the assets && echo 'assets: syntax error' >&2 && exit 7\n"
    )
    with pytest.raises(BuildError) as caught:
        build(builder(docker_engine, tmp_path, venv_cache), app, 1)
    assert "image build of r1 failed" in caught.value.message
    assert "compiling the assets" in caught.value.message  # the build log's last lines
    assert "Dockerfile" in caught.value.hint and "serving version is untouched" in caught.value.hint


def test_an_unreachable_docker_engine_is_a_build_error_with_a_hint(
    app: Path, tmp_path: Path, venv_cache: Path
) -> None:
    made = ImageBuilder(
        Builder(tmp_path / "releases", venv_cache), Images(Engine("unix:///nonexistent.sock"))
    )
    with pytest.raises(BuildError) as caught:
        build(made, app, 1)
    assert "unix:///nonexistent.sock is not reachable" in caught.value.message
    assert "DOCKER_HOST" in caught.value.hint
