"""Notes example worker and scheduled job: no HTTP, deployed with the release.

``python worker.py`` is a worker (``processes.worker``): it counts the notes every
``$NOTES_WORKER_EVERY`` seconds (0.5 by default) and prints one line each time, until SIGTERM,
which it answers by printing a goodbye line and exiting 0. ``python worker.py report`` is a
job (``jobs.report``): it prints the count once and exits; it exits 3 when
``$SHIPYARD_DATA_DIR/fail-report`` exists (so tests can make a run fail).
"""

import os
import signal
import sqlite3
import sys
import time
from types import FrameType

RELEASE = os.environ.get("SHIPYARD_RELEASE", "?")
DATA = os.environ.get("SHIPYARD_DATA_DIR", ".")


def count_notes() -> int:
    url = os.environ.get("DATABASE_URL", "")
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else os.path.join(DATA, "notes.db")
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM notes").fetchone()[0])
    except sqlite3.Error:
        return 0


def report() -> int:
    if os.path.exists(os.path.join(DATA, "fail-report")):
        print(f"report {RELEASE}: failing on purpose", flush=True)
        return 3
    print(f"report {RELEASE}: {count_notes()} notes", flush=True)
    return 0


def work() -> int:
    every = float(os.environ.get("NOTES_WORKER_EVERY", "0.5"))
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    tick = 0
    while not stopping:
        tick += 1
        print(f"worker {RELEASE} tick {tick}: {count_notes()} notes", flush=True)
        time.sleep(every)
    print(f"worker {RELEASE} stopping after SIGTERM", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(report() if sys.argv[1:] == ["report"] else work())
