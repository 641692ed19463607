"""OCI images of releases, built through the Docker Engine API (``runtime: docker``).

``ImageBuilder`` is the ``ReleaseBuilder`` the composition root picks for ``runtime: docker``:
it builds the release's files as always (``builder.Builder``: the snapshot, its checksum) and
then an image from them: with the app's own ``Dockerfile`` when it has one, otherwise with the
one ``core/dockerfile.py`` generates. The build context is the release's app folder (what was
snapshotted, secrets left out), sent as a tar; builds may use the host's network (the
dependency install). The image is tagged ``shipyard/<app>:<release id>`` and its id recorded
in the release's ``release.json`` (``image``), which every release made from this build
shares: an instance starts from exactly that image id (``docker.py`` checks it is there).
With ``registry:`` in the manifest the image is then pushed there (``registry.push``) and
its repository digest recorded beside the id (``digest``): a Swarm node, or an engine that
lacks the image, pulls exactly that digest. ``images`` of a release are read back with
``recorded_image``.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from shipyard.core.dockerfile import ImagePlan, render_dockerfile
from shipyard.core.records import Release
from shipyard.drivers.files import read_json, write_json
from shipyard.drivers.runtime.docker_engine import DockerEngine
from shipyard.drivers.runtime.interface import ReleaseBuilder, Warn
from shipyard.drivers.runtime.registry import Credentials, push
from shipyard.errors import BuildError, InstanceError
from shipyard.manifest.models import Manifest
from shipyard.manifest.registry import Registry

Login = Callable[[Registry], Credentials | None]  # the registry's credentials (from the vault)

GENERATED = ".shipyard.Dockerfile"  # the generated Dockerfile's name in the build context
LOG_LINES = 12  # lines of a failed build's log in its error


@dataclass(frozen=True)
class ReleaseImage:
    tag: str  # shipyard/<app>:<release id>
    id: str  # sha256:..., what instances start from
    digest: str | None = None  # <registry>/shipyard/<app>@sha256:..., when pushed to `registry:`


def image_tag(app: str, release_id: str) -> str:
    return f"shipyard/{app}:{release_id}"


def recorded_image(release: Release) -> ReleaseImage:
    """The image recorded for ``release``'s build; ``InstanceError`` when it has none."""
    data = read_json(Path(release.path) / "release.json")
    image = data.get("image") if isinstance(data, dict) else None
    if not isinstance(image, dict) or not image.get("id"):
        raise InstanceError(
            f"release {release.id} has no container image (it was built for `runtime: process`)",
            "deploy again to build the release as an image (`shipyard deploy`)",
        )
    digest = image.get("digest")
    return ReleaseImage(str(image["tag"]), str(image["id"]), str(digest) if digest else None)


def build_context(app: Path, dockerfile: str | None) -> io.BytesIO:
    """The app folder as a tar, with the generated Dockerfile added when there is one."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(app, arcname=".")
        if dockerfile is not None:
            data = dockerfile.encode()
            info = tarfile.TarInfo(GENERATED)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def plan_for(manifest: Manifest) -> ImagePlan:
    return ImagePlan(
        base=manifest.build.image,
        requirements=manifest.build.requirements,
        command=manifest.processes["web"].command,
        health_path=manifest.health.path,
        health_interval=manifest.health.interval,
        health_timeout=manifest.health.timeout,
    )


class Images:
    """Builds a release's image on one Docker Engine."""

    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine

    def build(self, release: Release, manifest: Manifest) -> tuple[ReleaseImage, list[str]]:
        """Build and tag ``release``'s image; its id and the build log's lines."""
        app = Path(release.path) / "app"
        own = (app / "Dockerfile").is_file()
        context = build_context(app, None if own else render_dockerfile(plan_for(manifest)))
        tag = image_tag(manifest.app, release.id)
        client = self.engine.client(BuildError)
        try:
            image, stream = client.images.build(
                fileobj=context,
                custom_context=True,
                dockerfile="Dockerfile" if own else GENERATED,
                tag=tag,
                rm=True,
                forcerm=True,
                network_mode="host",
                labels={"shipyard.app": manifest.app, "shipyard.release": release.id},
                timeout=int(manifest.build.timeout),
            )
        except docker.errors.BuildError as exc:
            which = "Dockerfile" if own else "generated Dockerfile"
            raise BuildError(
                f"the image build of {release.id} failed ({which}): {exc.msg}"
                f"\n{_tail(_log_lines(exc.build_log))}",
                "fix the Dockerfile or the requirements (the build log's last lines are above), then "
                "deploy again; the serving version is untouched",
            ) from None
        except (docker.errors.DockerException, OSError) as exc:
            raise BuildError(
                f"the image build of {release.id} failed: {exc}",
                "check the Docker Engine (`docker info`) and build.image, then deploy again",
            ) from None
        return ReleaseImage(tag, str(image.id)), _log_lines(stream)

    def push(self, image: ReleaseImage, release_id: str, app: str, registry: Registry, login: Login) -> str:
        """Push ``image`` to ``registry``; its repository digest (``<repo>@sha256:...``)."""
        client = self.engine.client(BuildError)
        return push(client, image.id, registry.address, app, release_id, login(registry))


def _log_lines(stream: Iterable[Any]) -> list[str]:
    """The text lines of a build's JSON stream (its ``stream`` and ``error`` parts)."""
    lines: list[str] = []
    for chunk in stream:
        if not isinstance(chunk, dict):
            continue
        text = chunk.get("stream") or chunk.get("error") or ""
        lines += [line for line in str(text).splitlines() if line.strip()]
    return lines


def _tail(lines: list[str]) -> str:
    return "\n".join(lines[-LOG_LINES:])


class ImageBuilder:
    """``ReleaseBuilder`` for ``runtime: docker``: the release's files, then its image."""

    def __init__(self, files: ReleaseBuilder, images: Images, login: Login = lambda _: None) -> None:
        self.files = files
        self.images = images
        self.login = login  # the composition root gives the vault's reader once it is open

    def build(
        self, app_dir: Path, manifest: Manifest, number: int, manifest_text: str, warn: Warn = lambda _: None
    ) -> Release:
        release = self.files.build(app_dir, manifest, number, manifest_text, warn)
        started = time.monotonic()
        image, log = self.images.build(release, manifest)
        cached = sum(1 for line in log if "Using cache" in line)
        took = time.monotonic() - started
        warn(f"image {image.tag} ({image.id[:19]}) built in {took:.1f}s, {cached} cached step(s)")
        recorded: dict[str, str] = {"tag": image.tag, "id": image.id}
        if manifest.registry is not None:
            started = time.monotonic()
            recorded["digest"] = self.images.push(
                image, release.id, manifest.app, manifest.registry, self.login
            )
            warn(f"pushed as {recorded['digest']} in {time.monotonic() - started:.1f}s")
        record = Path(release.path) / "release.json"
        data = read_json(record)
        kept = data if isinstance(data, dict) else {}
        write_json(record, {**kept, "image": recorded})
        return release
