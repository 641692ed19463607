"""Post-deploy verification: checks against an environment once a deployment switched to it.

``Verifier.verify`` is the last step of a deployment (``verify``, through ``Pipelines``'s
``BuildGate``) when the environment has ``verify``: its smoke paths through the environment's
port, a short ``wrk`` load test judged by ``core/pipeline/verification.py`` and a custom
command in the release (``SHIPYARD_URL`` set). A failure does not undo the switch (the
release already serves; a rollback is the operator's call): the step is recorded failed with
the reason, and ``check_promotable`` refuses to promote the release onward from there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shipyard.core.pipeline.verification import Verified, check_verified, judge_load, read_wrk
from shipyard.core.records import Release
from shipyard.drivers.pipeline.interface import Workbench
from shipyard.engine.context import Context
from shipyard.engine.pipeline.gate import Note
from shipyard.manifest.verify import LoadTest, Verify

LoadRun = Callable[[int, str, float, int, Path], str]  # (port, path, seconds, connections, scratch)
STEP = "verify"


class Verifier:
    def __init__(self, ctx: Context, bench: Workbench, load: LoadRun) -> None:
        self.ctx = ctx
        self.bench = bench
        self.load = load

    def verify(self, dep_id: int, env: str, release: Release, note: Note) -> None:
        """Run ``env``'s checks and record them as step ``verify`` of ``dep_id``."""
        spec = self.ctx.manifest.environments[env].verify
        if spec is None:
            return
        store = self.ctx.store
        step = store.start_step(dep_id, STEP)
        failure, passed = self._checks(dep_id, env, release, spec, note)
        status, detail = ("failed", failure) if failure else ("ok", "; ".join(passed) or "nothing to check")
        store.finish_step(dep_id, step, STEP, status, detail)
        if failure:
            note(STEP, f"verification failed: {failure}; {release.id} keeps serving, but is not promoted")

    def _checks(
        self, dep_id: int, env: str, release: Release, spec: Verify, note: Note
    ) -> tuple[str, list[str]]:
        port = self.ctx.manifest.environments[env].port
        passed: list[str] = []
        for path in spec.smoke:
            got = self.ctx.prober.get(f"127.0.0.1:{port}", path, 5.0)
            if not got.ok:
                return f"smoke {path}: {got.error or got.status}", passed
            passed.append(f"smoke {path} {got.status}")
        if spec.load is not None:
            said = self._load(port, spec.load, note)
            if said.startswith("load failed"):
                return said, passed
            passed.append(said)
        if spec.command is not None:
            log = self.ctx.paths.home / "pipelines" / "logs" / f"verify-{dep_id}.log"
            variables = {"SHIPYARD_URL": f"http://127.0.0.1:{port}", "SHIPYARD_ENV": env}
            done = self.bench.run(
                spec.command, Path(release.path) / "app", release, variables, log, spec.timeout
            )
            if not done.ok:
                last = (done.output.strip().splitlines() or [""])[-1][:200]
                code = "timed out" if done.code is None else f"exit status {done.code}"
                return f"command failed ({code}): {last}", passed
            passed.append("command passed")
        return "", passed

    def _load(self, port: int, spec: LoadTest, note: Note) -> str:
        note(STEP, f"load test: {spec.duration:g}s of {spec.path} with {spec.connections} connections")
        output = self.load(
            port, spec.path, spec.duration, spec.connections, self.ctx.paths.home / "pipelines"
        )
        try:
            figures = read_wrk(output)
        except ValueError as exc:
            return f"load failed: {exc}"
        said = f"{figures.rate:.0f} requests/s, p95 {figures.p95_ms:.1f}ms over {figures.requests} requests"
        failure = judge_load(figures, spec)
        return f"load failed: {failure} ({said})" if failure else f"load {said}"

    def check_promotable(self, release_id: str, before: str | None) -> None:
        """Refuse promoting from ``before`` a release whose verification there did not pass."""
        if before is None or self.ctx.manifest.environments[before].verify is None:
            return
        release = self.ctx.store.release(release_id)
        build = release.base_release or release.id
        builds = {r.id: r.base_release or r.id for r in self.ctx.store.releases()}
        mine = [
            d for d in self.ctx.store.deployments(before, limit=200)
            if builds.get(d.release_id or "") == build and d.status == "succeeded"
        ]  # fmt: skip
        found = None
        if mine:
            latest = max(mine, key=lambda d: d.id)
            step = next((s for s in self.ctx.store.deployment(latest.id).steps if s.name == STEP), None)
            found = Verified(latest.id, step.status if step else None, step.detail if step else "")
        check_verified(release_id, before, found)
