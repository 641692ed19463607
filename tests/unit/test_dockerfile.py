"""The generated Dockerfile (``runtime: docker``): layer-cache order, non-root, the health
check as HEALTHCHECK; and the manifest's container limits, which only `runtime: docker` takes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from shipyard.core.dockerfile import APP_UID, ImagePlan, render_dockerfile
from shipyard.errors import ManifestError
from shipyard.manifest.loader import parse_manifest

PLAN = ImagePlan("python:3.12-slim", "requirements.txt", "python app.py", "/health?deep=1", 1.0, 2.0)


def test_the_requirements_are_installed_before_the_apps_files_are_copied() -> None:
    lines = render_dockerfile(PLAN).splitlines()
    steps = (
        "FROM python:3.12-slim",
        "RUN python3 -m venv",
        'COPY "requirements.txt"',
        "RUN /venv/bin/python",
        "COPY . /app",
        f"USER {APP_UID}:{APP_UID}",
        "HEALTHCHECK",
        "CMD",
    )
    order = [next(i for i, line in enumerate(lines) if line.startswith(step)) for step in steps]
    assert order == sorted(order)


def test_the_health_check_probes_the_health_path_on_port_and_the_command_is_the_cmd() -> None:
    text = render_dockerfile(PLAN)
    health = next(line for line in text.splitlines() if line.startswith("HEALTHCHECK"))
    assert "--interval=1s --timeout=2s" in health
    probe = json.loads(health.split(" CMD ", 1)[1])
    assert probe[:2] == ["python3", "-c"] and "'/health?deep=1'" in probe[2] and "PORT" in probe[2]
    cmd = next(line for line in text.splitlines() if line.startswith("CMD "))
    assert json.loads(cmd[4:]) == ["/bin/sh", "-c", "python app.py"]


def test_no_requirements_means_no_install_layer() -> None:
    text = render_dockerfile(ImagePlan("base", None, "run", "/", 1.0, 1.0))
    assert "pip install" not in text and "requirements" not in text.split("\n", 1)[1]


def manifest(**extra: Any) -> dict[str, Any]:
    return {
        "app": "x",
        "processes": {"web": {"command": "run", **extra}},
        "environments": {"dev": {"port": 8080}},
    }


@pytest.mark.parametrize(
    ("runtime", "web", "error"),
    [
        ("docker", {"cpus": 0.5, "memory": "256m"}, None),
        ("docker", {"memory": "1g"}, None),
        ("process", {"cpus": 1}, "processes.web.cpus limits containers: set `runtime: docker`"),
        ("process", {"memory": "256m"}, "processes.web.memory limits containers"),
        ("docker", {"memory": "lots"}, "memory"),
        ("docker", {"cpus": 0}, "cpus"),
        ("kubernetes", {}, "runtime"),
    ],
)
def test_container_limits_are_validated(runtime: str, web: dict[str, Any], error: str | None) -> None:
    data = {**manifest(**web), "runtime": runtime}
    if error is None:
        assert parse_manifest(data).runtime == runtime
        return
    with pytest.raises(ManifestError, match=re.escape(error)):
        parse_manifest(data)


def test_build_image_must_look_like_an_image_reference() -> None:
    with pytest.raises(ManifestError, match=r"build\.image"):
        parse_manifest({**manifest(), "build": {"image": "python 3; rm -rf /"}})
    assert parse_manifest(manifest()).build.image == "python:3.12-slim"
