"""The CLI follows a job by polling a real local HTTP server: progress lines, result, error, Ctrl-C."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import typer
from rich.console import Console

from shipyard.cli.client import Client
from shipyard.cli.follow import follow_job
from shipyard.errors import ShipyardError

LINES: list[dict[str, Any]] = [
    {"id": 1, "at": 0.0, "message": "snapshot"},
    {"id": 2, "at": 1.0, "message": "upload 40%"},
]


class Jobs:
    """What the fake control plane answers: job 1 runs for three polls then succeeds, job 2 fails,
    job 3 never ends."""

    def __init__(self) -> None:
        self.polls: dict[int, list[int]] = {1: [], 2: [], 3: []}

    def answer(self, job_id: int, after: int) -> dict[str, Any]:
        self.polls[job_id].append(after)
        n = len(self.polls[job_id])
        job: dict[str, Any] = {
            "id": job_id, "kind": "backup.create", "env": "dev", "args": {}, "requested_by": "ann",
            "status": "running", "created_at": 0.0, "started_at": 0.0, "finished_at": None,
            "result": None, "error": None, "hint": None,
        }  # fmt: skip
        lines = [line for line in LINES[: min(n, 2)] if line["id"] > after]
        if job_id == 1 and n >= 3:
            job.update(status="succeeded", result={"backup": {"id": "b-1"}})
        if job_id == 2 and n >= 2:
            job.update(status="interrupted", error="job 2 was interrupted", hint="run it again")
        return {"job": job, "progress": lines}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, Jobs]]:
    jobs = Jobs()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            after = int(parse_qs(url.query).get("after", ["0"])[0])
            body = json.dumps(jobs.answer(int(url.path.rsplit("/", 1)[1]), after)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (tmp_path / "server.json").write_text(json.dumps({"url": f"http://127.0.0.1:{server.server_port}"}))
    (tmp_path / "token").write_text("t0ken")
    yield tmp_path, jobs
    server.shutdown()
    server.server_close()


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200), out


def test_progress_lines_print_once_each_and_the_result_comes_back(served: tuple[Path, Jobs]) -> None:
    home, jobs = served
    con, out = console()
    assert follow_job(Client(home), 1, con, max_poll=0.01) == {"backup": {"id": "b-1"}}
    printed = out.getvalue().splitlines()
    assert [line.split(" ", 1)[1] for line in printed] == ["snapshot", "upload 40%"]
    assert jobs.polls[1] == [0, 1, 2]  # each poll asks only for the lines after the last one seen


def test_a_failed_or_interrupted_job_is_the_error_with_its_hint(served: tuple[Path, Jobs]) -> None:
    home, _ = served
    con, _ = console()
    with pytest.raises(ShipyardError) as info:
        follow_job(Client(home), 2, con, max_poll=0.01)
    assert (info.value.message, info.value.hint) == ("job 2 was interrupted", "run it again")


def test_ctrl_c_detaches_and_says_how_to_follow_again(
    served: tuple[Path, Jobs], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, jobs = served

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupted)  # the module follow.py sleeps with
    con, out = console()
    with pytest.raises(typer.Exit) as info:
        follow_job(Client(home), 3, con)
    assert info.value.exit_code == 130
    assert "detached from job 3" in out.getvalue() and "`shipyard jobs show 3 -f`" in out.getvalue()
    assert len(jobs.polls[3]) == 1  # nothing was sent to the job: it runs on
