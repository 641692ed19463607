"""Which worker instances must run: a pure function of the route, the manifest's counts and
what is live.

Rule: an environment's workers (every process but web) run for the release that serves it, in
its colour, ``instances`` of each process (``processes.<name>.environments`` overrides per
environment). Nothing else runs: no workers for a standby release, none where nothing serves.
The deployment starts the new release's workers before its switch and converges after it; the
reconciler converges every environment no deployment holds (``engine/delivery/workers.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shipyard.core.records import Instance, Route


@dataclass(frozen=True)
class WorkerPlan:
    start: list[tuple[str, int]] = field(default_factory=list)  # (process, slot) to start
    stop: list[Instance] = field(default_factory=list)  # live workers no rule keeps

    @property
    def empty(self) -> bool:
        return not self.start and not self.stop


def plan_workers(route: Route, wanted: Mapping[str, int], live: Sequence[Instance]) -> WorkerPlan:
    """What to start and stop so that ``live`` workers match the rule for ``route``."""
    colour, release = route.active_colour, route.active_release
    if colour is None or release is None:
        return WorkerPlan([], list(live))
    keep: dict[tuple[str, int], Instance] = {}
    stop: list[Instance] = []
    for inst in live:
        key = (inst.process, inst.slot)
        fits = (
            inst.colour == colour and inst.release_id == release and inst.slot < wanted.get(inst.process, 0)
        )
        if fits and key not in keep:
            keep[key] = inst
        else:
            stop.append(inst)
    start = [
        (name, slot) for name, count in wanted.items() for slot in range(count) if (name, slot) not in keep
    ]
    return WorkerPlan(start, stop)
