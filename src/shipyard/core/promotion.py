"""Rules of the promotion path: which environment comes before which, and may a release go on. Pure.

``shipyard promote RELEASE --to ENV`` asks ``check_promotion`` with the
deployments recorded so far; the engine then deploys the same release (same
artifact, same checksum) to ``ENV``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shipyard.errors import ConflictError, ManifestError


@dataclass(frozen=True)
class Passed:
    """One recorded deployment, as the rules need it."""

    env: str
    release_id: str | None
    status: str


def previous_env(path: tuple[str, ...], env: str) -> str | None:
    """The environment before ``env`` on the path (None for the first)."""
    index = path.index(env)
    return path[index - 1] if index else None


def next_env(path: tuple[str, ...], env: str) -> str | None:
    index = path.index(env)
    return path[index + 1] if index + 1 < len(path) else None


def check_target(path: tuple[str, ...] | None, target: str) -> str | None:
    """The environment before ``target``; raise if ``target`` is not on the path."""
    if path is None:
        raise ManifestError(
            "shipyard.yaml has no promotion path, so there is no environment to promote from",
            "add one, e.g. `promotion: [dev, test, staging, production]`, or use `shipyard deploy "
            f"{target} --release RELEASE`",
        )
    if target not in path:
        raise ConflictError(
            f"{target} is not on the promotion path ({' -> '.join(path)})",
            f"add it to promotion.path in shipyard.yaml, or use `shipyard deploy {target} --release RELEASE`",
        )
    return previous_env(path, target)


def check_promotion(
    path: tuple[str, ...] | None,
    require_previous: bool,
    target: str,
    release_id: str,
    history: Iterable[Passed],
) -> str | None:
    """Allow promoting ``release_id`` to ``target`` or raise saying which environment it must pass.

    ``history`` holds the recorded deployments (any order). Returns the previous environment.
    """
    before = check_target(path, target)
    if before is None or not require_previous:
        return before
    tries = [h for h in history if h.env == before and h.release_id == release_id]
    if any(h.status == "succeeded" for h in tries):
        return before
    seen = (
        f"its deployments there ended {', '.join(sorted({h.status for h in tries}))}"
        if tries
        else (f"it was never deployed to {before}")
    )
    raise ConflictError(
        f"{release_id} must pass {before} before {target}: {seen}",
        f"`shipyard promote {release_id} --to {before}` first (the path is {' -> '.join(path or ())})",
    )


def check_rollback(env: str, release_id: str, history: Iterable[Passed]) -> None:
    """Allow rolling ``env`` back to ``release_id`` only if it already served ``env``.

    A rollback skips approval and the configuration check, so it may only return to a
    release that once reached ``env``'s traffic (a deployment of ``env`` with it that
    succeeded); anything else goes through ``shipyard promote``.
    """
    if any(h.env == env and h.release_id == release_id and h.status == "succeeded" for h in history):
        return
    raise ConflictError(
        f"{release_id} never served {env}, so it cannot be a rollback target there "
        "(a rollback skips approval and returns only to a release that already served)",
        f"go through the promotion path and its approval: `shipyard promote {release_id} --to {env}`",
    )
