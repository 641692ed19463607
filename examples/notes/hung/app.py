"""Notes example app, hung variant: answers until its process hangs on cue.

Once the file ``$SHIPYARD_DATA_DIR/hang`` (the environment's data folder, shared by its
instances) has been written after this process started, a request to ``/health`` blocks the
event loop forever: the process stays alive but answers nothing more, the hung process the
liveness rule (``health.restart_after``) replaces. An instance started after the cue was
written answers normally, so a replacement serves at once. ``tests/integration/test_hung_instances.py``
drives it.
"""

import json
import os
import time

from fastapi import FastAPI, Response

VERSION = "1.1.0"
STARTED = time.time()
CUE = os.path.join(os.environ.get("SHIPYARD_DATA_DIR", "."), "hang")

app = FastAPI(title="notes", version=VERSION)

_ROOT_BODY = json.dumps(
    {"app": "notes", "version": VERSION, "release": os.environ.get("SHIPYARD_RELEASE")},
    separators=(",", ":"),
).encode()


def cued() -> bool:
    """Whether the cue was written after this process started."""
    try:
        return os.stat(CUE).st_mtime >= STARTED
    except FileNotFoundError:
        return False


@app.get("/")
async def root() -> Response:
    return Response(content=_ROOT_BODY, media_type="application/json")


@app.get("/health")
async def health() -> Response:
    """200, until the cue: then block the event loop (and so the whole process) forever."""
    while cued():
        time.sleep(3600)  # deliberately blocking: nothing else runs in this process any more
    return Response(content=b'{"status":"Healthy"}', media_type="application/json")
