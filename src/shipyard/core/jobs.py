"""Jobs: the long operations the control plane runs on its own threads. Pure data and decisions.

A backup, a verification, a restore (a masked copy, a point in time), a drill and a migration
by hand are each a job: the API answers at once with the job, the engine runs it
(``engine/jobs.py``) and records its progress lines and its outcome, and the CLI follows it by
polling. A job's kind is the action the audit log records for it (``backup.create``,
``backup.verify``, ``backup.restore[.masked]``, ``drill.run``, ``migrate.up|down``). Here: the
record, the statuses, and what to tell the user about a job a restart of the control plane
interrupted (``interrupted_hint``: the state its data is in, what to run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

QUEUED, RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "queued", "running", "succeeded", "failed", "interrupted"
ACTIVE = (QUEUED, RUNNING)

Progress = Callable[[str], None]  # one progress line of the running operation ("upload 40%")


def no_progress(_line: str) -> None:
    """The progress callback of an operation nobody follows (the scheduler's backups)."""


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    env: str
    args: dict[str, Any]
    requested_by: str
    status: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    hint: str | None = None

    @property
    def done(self) -> bool:
        return self.status not in ACTIVE

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "env": self.env,
            "args": self.args,
            "requested_by": self.requested_by,
            "status": self.status,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "result": self.result,
            "error": self.error,
            "hint": self.hint,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(
            **{
                **row,
                "args": json.loads(row["args"]),
                "result": json.loads(row["result"]) if row["result"] else None,
            }
        )


def interrupted_hint(job: Job) -> tuple[str, str]:
    """(what happened, what to do) for ``job``, cut short by a restart of the control plane."""
    env, args = job.env, job.args
    message = f"job {job.id} ({job.kind} of {env}) was interrupted: the control plane stopped while it ran"
    if job.kind == "backup.create":
        return message, (
            f"the half-written backup was deleted at restart and earlier backups are untouched; "
            f"take it again with `shipyard backup create {env}`"
        )
    if job.kind == "backup.verify":
        return message, (
            "nothing was changed (a verification restores into scratch, removed at restart); "
            f"verify again with `shipyard backup verify {env}`"
        )
    if job.kind == "drill.run":
        return message, (
            f"{env}'s live data was not touched; the drill's marker row is deleted by the next drill; "
            f"run it again with `shipyard drill {env}`"
        )
    if job.kind.startswith("backup.restore"):  # a restore's job is the target's; args["from"] the source
        source = args.get("from") or env
        return message, (
            f"{env}'s database is either as it was or the restored copy (the swap is atomic), and a "
            f"safety backup taken before the swap is in `shipyard backup list {env}`; check the data, "
            f"then restore again (`shipyard backup restore {source}"
            + (f" --target {env}" if source != env else "")
            + "`) or restore the safety backup"
        )
    direction = job.kind.removeprefix("migrate.")
    return message, (
        f"{env}'s migration may have stopped half-way: the pre-migrate backup is in "
        f"`shipyard backup list {env}`; see `shipyard migrate status {env}`, then run "
        f"`shipyard migrate {direction} {env}` again or restore that backup"
    )
