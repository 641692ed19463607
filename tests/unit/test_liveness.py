"""The liveness rule (``health.restart_after``): the pure decision over an instance's probe
history, its manifest key, and the reconciler replacing a hung instance through the runtime
seam (``FakeRuntime``, ``FakeProxy``), after ``restart_after`` and not before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.fakes import FakeProber
from tests.unit.test_engine_fakes import MANIFEST, deploy, fakes, make_ctx
from tests.unit.test_runtime_seam import databases

from shipyard.core.instance_health import Liveness, liveness_after, must_replace
from shipyard.drivers.runtime.interface import ProbeResult
from shipyard.engine.delivery import reconcile
from shipyard.engine.delivery.reconcile import Reconciler
from shipyard.errors import ManifestError
from shipyard.manifest.loader import parse_manifest


def fold(results: list[tuple[float, bool]], seen_at: float = 0.0) -> Liveness:
    state = Liveness(seen_at)
    for at, ok in results:
        state = liveness_after(state, ok, at)
    return state


@pytest.mark.parametrize(
    ("probes", "now", "replace"),
    [
        ([(1, True), (2, False)], 4.9, False),  # failing for 2.9 s < 3 s
        ([(1, True), (2, False), (3, False)], 5.0, True),  # 3 s of continuous failure
        ([(1, True), (2, False), (3, True), (4, False)], 6.0, False),  # a success reset it at 3
        ([(1, True), (2, False), (3, True), (4, False)], 7.0, True),
        ([(1, True), (2, True)], 100.0, False),  # answering: never
        ([(1, False), (2, False)], 9.0, False),  # never answered, within start_timeout (10 s)
        ([(1, False), (2, False)], 10.0, True),  # start_timeout spent, failing since 1 s
    ],
)
def test_the_rule_replaces_only_after_restart_after_of_continuous_failure(
    probes: list[tuple[float, bool]], now: float, replace: bool
) -> None:
    assert must_replace(fold(probes), now, 3.0, 10.0) is replace


def test_the_rule_is_off_without_restart_after() -> None:
    assert not must_replace(fold([(1, True), (2, False)]), 1000.0, None, 10.0)


def test_restart_after_must_be_greater_than_the_interval() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest({**MANIFEST, "health": {"interval": "5s", "restart_after": "5s"}})
    assert "health.restart_after" in str(caught.value) and "health.interval" in str(caught.value)
    assert parse_manifest(MANIFEST).health.restart_after is None  # off by default
    assert parse_manifest({**MANIFEST, "health": {"restart_after": "3s"}}).health.restart_after == 3.0


class HungProber(FakeProber):
    """Fails every probe of the endpoints in ``hung``; answers 200 elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.hung: set[str] = set()

    def get(self, endpoint: str, path: str, timeout: float, expect: int = 200) -> ProbeResult:
        if endpoint in self.hung:
            return ProbeResult(False, None, timeout, "timed out", "timeout")
        return super().get(endpoint, path, timeout, expect)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


def hung_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, HungProber, Clock, Reconciler]:
    """Two instances deployed under ``restart_after: 3s``, a prober and a clock the test drives."""
    prober = HungProber()
    ctx = make_ctx(tmp_path, prober)
    health = {"interval": "1s", "healthy_threshold": 1, "start_timeout": "1s", "restart_after": "3s"}
    ctx.manifest = parse_manifest({**MANIFEST, "health": health})
    deploy(ctx)
    clock = Clock()
    monkeypatch.setattr(reconcile, "time", clock)
    return ctx, prober, clock, Reconciler(ctx, databases(ctx))


def test_a_hung_instance_is_replaced_after_restart_after_and_not_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, prober, clock, reconciler = hung_setup(tmp_path, monkeypatch)
    runtime, _, _ = fakes(ctx)
    victim, other = ctx.live_instances("dev")
    reconciler.run_once()  # both answer
    prober.hung.add(victim.endpoint or "")
    for _ in range(3):  # failing from +1 s to +3 s: 2 s < restart_after
        clock.now += 1.0
        reconciler.run_once()
    assert runtime.stopped == [] and ctx.store.instance(victim.id).restarts == 0
    clock.now += 1.0  # 3 s of failure
    reconciler.run_once()
    again = ctx.store.instance(victim.id)
    assert runtime.stopped == [victim.runtime_ref]  # stopped through the runtime interface
    assert again.runtime_ref != victim.runtime_ref and runtime.alive(again.runtime_ref)
    assert again.restarts == 1 and again.endpoint == victim.endpoint and again.slot == victim.slot
    assert ctx.store.instance(other.id).runtime_ref == other.runtime_ref  # the healthy one stays
    assert any("not answering /health for 3 s" in e.message for e in reconciler.loop.errors)


def test_no_hung_instance_is_replaced_while_its_environment_deploys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, prober, clock, reconciler = hung_setup(tmp_path, monkeypatch)
    runtime, _, _ = fakes(ctx)
    victim = ctx.live_instances("dev")[0]
    prober.hung.add(victim.endpoint or "")
    monkeypatch.setattr(ctx.store, "lock", lambda env: object())  # a deployment holds dev
    for _ in range(6):
        reconciler.run_once()
        clock.now += 1.0
    assert runtime.stopped == [] and ctx.store.instance(victim.id).restarts == 0
