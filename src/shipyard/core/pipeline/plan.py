"""The order of a pipeline's stages: which may start now, which are skipped. Pure.

A stage starts once every stage it ``needs`` has passed; stages with nothing between them
run in parallel. A stage whose need failed (or was skipped) is skipped. The manifest checks
the graph when it is loaded (``check_graph``: every need known, no cycle); the engine's run
(``engine/pipeline/runs.py``) asks ``next_stages`` after each stage ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

PASSED, FAILED, SKIPPED, RUNNING, WAITING = "passed", "failed", "skipped", "running", "waiting"
ENDED = (PASSED, FAILED, SKIPPED)


def check_graph(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """The stages in an order where each comes after its needs; ValueError names an unknown
    need or a cycle (``test -> lint -> test``)."""
    for stage, wanted in needs.items():
        for need in wanted:
            if need not in needs:
                raise ValueError(
                    f"stages.{stage}.needs: {need!r} is not a stage of this pipeline "
                    f"(stages: {', '.join(needs)})"
                )
            if need == stage:
                raise ValueError(f"stages.{stage}.needs: a stage cannot need itself")
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(stage: str, path: list[str]) -> None:
        if state.get(stage) == "done":
            return
        if state.get(stage) == "visiting":
            cycle = [*path[path.index(stage) :], stage]
            raise ValueError(f"stages: the needs form a cycle ({' -> '.join(cycle)}): remove one of them")
        state[stage] = "visiting"
        for need in needs[stage]:
            visit(need, [*path, stage])
        state[stage] = "done"
        order.append(stage)

    for stage in needs:
        visit(stage, [])
    return order


def next_stages(needs: Mapping[str, Sequence[str]], status: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(stages that may start now, stages to mark skipped now), given each stage's status
    (a stage missing from ``status`` is waiting)."""
    start: list[str] = []
    skip: list[str] = []
    for stage, wanted in needs.items():
        if status.get(stage, WAITING) != WAITING:
            continue
        states = [status.get(n, WAITING) for n in wanted]
        if any(s in (FAILED, SKIPPED) for s in states):
            skip.append(stage)
        elif all(s == PASSED for s in states):
            start.append(stage)
    return start, skip


def outcome(status: Mapping[str, str]) -> str:
    """The run's outcome once every stage ended: passed only when every stage passed."""
    return PASSED if status and all(s == PASSED for s in status.values()) else FAILED
