"""The autoscaler and the converger through the runtime seam (``FakeRuntime``, ``FakeProxy``):
the desired count is stored and reached, a new instance gets traffic only once healthy, a
removed one leaves HAProxy before it stops, deployments start at the desired count and hold
scaling, a pin holds it, and a restarted control plane keeps the count."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tests.unit.fakes import FakeProber, FakeSender
from tests.unit.test_engine_fakes import MANIFEST, deploy, fakes, make_ctx
from tests.unit.test_runtime_seam import databases

from shipyard.core.proxy import parse_queues
from shipyard.core.records import NewDeployment, Owner
from shipyard.drivers.runtime.interface import Usage
from shipyard.engine.context import Context
from shipyard.engine.delivery.autoscale import Autoscaler, ScaleControl
from shipyard.engine.delivery.scaling import Scaling
from shipyard.engine.observe.metrics import snapshot
from shipyard.engine.observe.notifying import Notifier
from shipyard.engine.status import status
from shipyard.errors import InputError
from shipyard.manifest.autoscale import Autoscale
from shipyard.manifest.loader import parse_manifest

AUTOSCALED: dict[str, Any] = {
    **MANIFEST,
    "environments": {
        "dev": {
            "port": 18080,
            "autoscale": {
                "min": 2,
                "max": 4,
                "interval": "5s",
                "targets": {"cpu": 50},
                "down": {"window": "0s"},
            },
        }
    },
}


def autoscaled(tmp_path: Path) -> tuple[Context, Autoscaler, Scaling, Autoscale]:
    ctx = make_ctx(tmp_path, FakeProber())
    ctx.manifest = parse_manifest(AUTOSCALED)
    scale = ctx.manifest.environments["dev"].autoscale
    assert scale is not None
    notes: list[str] = []
    return ctx, Autoscaler(ctx), Scaling(ctx, databases(ctx), notes.append), scale


def cpu(ctx: Context, cores: float) -> None:
    runtime, _, _ = fakes(ctx)
    runtime.figures = Usage(cores, 0.01, 1 << 20)


def routed(ctx: Context) -> dict[str, str | None]:
    _, _, proxy = fakes(ctx)
    backend = proxy.layouts[-1].backend("dev")
    assert backend is not None
    return {s.name: s.address for s in backend.servers if s.colour == "blue"}


def test_scale_out_gets_traffic_only_once_healthy_and_scale_in_drains_first(tmp_path: Path) -> None:
    ctx, autoscaler, scaling, scale = autoscaled(tmp_path)
    assert deploy(ctx).status == "succeeded"
    assert len(ctx.live_instances("dev")) == 2  # the first deployment starts min
    cpu(ctx, 1.0)  # 100 % per instance against 50 %: ceil(2 * 2) = 4
    decision = autoscaler.evaluate("dev", scale, 1000.0)
    assert decision is not None and (decision.desired, decision.rule) == (4, "cpu 100% / target 50%")
    assert ctx.web_count("dev") == 4
    scaling.converge("dev")
    states = sorted((i.slot, i.state) for i in ctx.live_instances("dev"))
    assert states == [(0, "running"), (1, "running"), (2, "starting"), (3, "starting")]
    assert routed(ctx)["blue-2"] is None  # in maintenance until healthy
    scaling.converge("dev")  # the health threshold (1) is reached
    assert all(i.state == "running" for i in ctx.live_instances("dev"))
    assert routed(ctx)["blue-2"] is not None and routed(ctx)["blue-3"] is not None

    cpu(ctx, 0.05)
    decision = autoscaler.evaluate("dev", scale, 1005.0)
    assert decision is not None and decision.desired == 2
    runtime, _, _ = fakes(ctx)
    stopped_before = len(runtime.stopped)
    scaling.converge("dev")
    leaving = [i for i in ctx.store.instances("dev") if i.state == "stopping"]
    assert sorted(i.slot for i in leaving) == [2, 3]  # the highest slots
    assert routed(ctx)["blue-2"] is None and len(runtime.stopped) == stopped_before  # out, not stopped yet
    scaling.converge("dev")  # HAProxy counts no session on them: stopped
    assert len(runtime.stopped) == stopped_before + 2
    assert sorted(i.slot for i in ctx.live_instances("dev")) == [0, 1]


def test_missing_cpu_never_scales_in_and_the_history_keeps_each_decision(tmp_path: Path) -> None:
    ctx, autoscaler, _, scale = autoscaled(tmp_path)
    deploy(ctx)
    ctx.store.autoscale.record(
        "dev",
        {
            "at": 0.0,
            "current": 2,
            "desired": 3,
            "recommendation": 3,
            "rule": "t",
            "reason": "",
            "metrics": {},
        },
        3,
    )
    runtime, _, _ = fakes(ctx)
    runtime.figures = Usage(None, 0.01, 1 << 20)  # the first sample has no CPU figure
    decision = autoscaler.evaluate("dev", scale, 1000.0)
    assert decision is not None and decision.desired == 3 and "unknown" in decision.reason
    rows = ctx.store.autoscale.decisions("dev")
    assert rows[-1]["metrics"]["cpu"] is None and rows[-1]["reason"] == decision.reason


def test_a_deployment_holds_scaling_and_starts_at_the_desired_count(tmp_path: Path) -> None:
    ctx, autoscaler, _, scale = autoscaled(tmp_path)
    deploy(ctx)
    cpu(ctx, 0.75)  # ceil(2 * 1.5) = 3
    assert autoscaler.evaluate("dev", scale, 1000.0).desired == 3  # type: ignore[union-attr]
    new = NewDeployment(env="dev", kind="deploy", requested_by="test", release_id=None, from_release=None)
    ctx.store.begin_deployment(new, ctx.owner)  # a deployment holds dev
    cpu(ctx, 2.0)
    held = autoscaler.evaluate("dev", scale, 1005.0)
    assert held is not None and (held.desired, held.rule) == (3, "deployment")
    ctx.store.break_lock("dev", "interrupted", "test")
    second = deploy(ctx)
    assert second.status == "succeeded"
    assert len(ctx.live_instances("dev", "green")) == 3  # the new colour starts at the desired count


def test_a_pin_holds_until_auto_and_survives_a_restart(tmp_path: Path) -> None:
    ctx, autoscaler, _, scale = autoscaled(tmp_path)
    deploy(ctx)
    control = ScaleControl(ctx, autoscaler)
    state = control.pin("dev", 3, "alice")
    assert (state["desired"], state["pinned"], state["pinned_by"]) == (3, 3, "alice")
    cpu(ctx, 2.0)
    held = autoscaler.evaluate("dev", scale, 1000.0)
    assert held is not None and (held.desired, held.reason) == (2, "pinned to 3 by alice")
    assert ctx.web_count("dev") == 3
    restarted = Autoscaler(dataclasses.replace(ctx, owner=Owner(2, 0.0)))
    restarted.resume()
    assert ctx.web_count("dev") == 3
    control.pin("dev", None, "alice")
    assert ctx.web_count("dev") == 2
    assert restarted.evaluate("dev", scale, 1001.0).desired == 4  # type: ignore[union-attr]
    assert ctx.web_count("dev") == 4
    assert [r["rule"] for r in control.history("dev", 10)][:3] == ["pinned", "pinned", "auto"]


def test_a_pin_is_checked(tmp_path: Path) -> None:
    ctx, autoscaler, _, _ = autoscaled(tmp_path)
    control = ScaleControl(ctx, autoscaler)
    for bad in (0, 5):
        try:
            control.pin("dev", bad, "alice")
        except InputError as exc:
            assert "outside 1 to autoscale.max (4)" in str(exc) and exc.hint
        else:
            raise AssertionError(f"{bad} was accepted")


def test_queues_are_read_per_backend() -> None:
    text = (
        "# pxname,svname,qcur,scur\n"
        "dev-blue,blue-0,2,10\n"
        "dev-blue,blue-1,0,10\n"
        "dev-blue,BACKEND,5,20\n"
        "dev,FRONTEND,,20\n"
    )
    assert parse_queues(text) == {"dev-blue": 7}
    assert parse_queues("") == {}


def test_status_and_metrics_show_the_count(tmp_path: Path) -> None:
    ctx, autoscaler, _, scale = autoscaled(tmp_path)
    deploy(ctx)
    cpu(ctx, 1.0)
    autoscaler.evaluate("dev", scale, 1000.0)
    line = status(ctx, [])["environments"]["dev"]["autoscale"]
    assert line == "autoscale 4 (2 to 4, automatic): cpu 100% / target 50%"
    points = [p for p in snapshot(ctx, {}, 60.0, 1000.0) if p.metric == "instances"]
    assert [(p.series, p.value) for p in points] == [("env=dev", 4.0)]


def test_each_change_is_announced_to_the_deployment_event_receivers(tmp_path: Path) -> None:
    ctx, _, _, scale = autoscaled(tmp_path)
    hooked = {
        **AUTOSCALED,
        "notifications": {"receivers": {"hook": {"webhook": {"url": "http://127.0.0.1:9/x"}}}},
    }
    ctx.manifest = parse_manifest(hooked)
    sender = FakeSender()
    ctx.notifier = Notifier(ctx.store, sender)
    autoscaler = Autoscaler(ctx)
    deploy(ctx)
    sender.sent.clear()
    cpu(ctx, 0.25)  # 25 % against 50 %: would go to 1, but min is 2: no change, no event
    autoscaler.evaluate("dev", scale, 1000.0)
    assert sender.sent == []
    cpu(ctx, 1.0)
    autoscaler.evaluate("dev", scale, 1005.0)
    (name, message), *_ = sender.sent
    assert name == "hook" and message.env == "dev"
    assert "autoscale.scaled" in message.title and "2 -> 4 instances" in " ".join(message.lines)
    assert message.title.endswith("(2 -> 4 instances)") and "deployment" not in message.title
