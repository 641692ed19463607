"""Benchmark of the secrets vault through the API: 200 secrets written, then read back.

It starts a private Shipyard (control plane only: nothing is deployed) in a temporary folder,
writes ``--secrets`` secrets (one ``POST /api/secrets/dev/NAME`` each, as `shipyard secrets
set` sends it: with check-and-set), then reads ``--reads`` of them at random (``GET``), each
read authenticated, role-checked, audited (one hash-chained entry, fsynced) and decrypted.
Every request is timed on the client, over one keep-alive connection. At the end it checks
that the audit chain is intact and that the reads match what was written, and tears
everything down.

    .venv/bin/python bench/secrets.py                  # 200 secrets, 10,000 reads

200 is the vault's limit of live secrets per environment (``core/secret_limits.py``).

The last stdout line is one JSON object: ``set_p50_ms``, ``set_p99_ms``, ``get_p50_ms``,
``get_p99_ms`` and ``goals`` (through the API: reads under 3 ms at p99, writes under 3 ms at p50).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `secrets`: take its folder off the import path
# before anything imports `secrets`, and load the shared helpers by their path instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import secrets as random_secrets  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

_spec = importlib.util.spec_from_file_location("zero_downtime", HERE / "zero_downtime.py")
assert _spec is not None and _spec.loader is not None
zd = importlib.util.module_from_spec(_spec)
sys.modules["zero_downtime"] = zd
_spec.loader.exec_module(zd)
BenchError, log = zd.BenchError, zd.log


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="shipyard-bench-secrets-"))
    cp = zd.ControlPlane(root / "home", root / "app", Path(args.cache_dir))
    zd.prepare_app(root / "app", zd.free_port(), 1)
    written: dict[str, str] = {}
    set_ms: list[float] = []
    get_ms: list[float] = []
    errors: list[str] = []
    try:
        cp.up(zd.free_port())
        assert cp.http is not None
        log(f"writing {args.secrets} secrets")
        for i in range(args.secrets):
            name = f"SECRET_{i:05d}"
            value = random_secrets.token_urlsafe(24)
            started = time.perf_counter()
            resp = cp.http.post(f"/api/secrets/dev/{name}", json={"value": value, "cas": 0})
            set_ms.append((time.perf_counter() - started) * 1000)
            if resp.status_code != 200:
                raise BenchError(f"set {name}: {resp.status_code} {resp.text}")
            written[name] = value
        names = list(written)
        rng = random.Random(7)
        log(f"reading {args.reads} secrets at random")
        for _ in range(args.reads):
            name = rng.choice(names)
            started = time.perf_counter()
            resp = cp.http.get(f"/api/secrets/dev/{name}")
            get_ms.append((time.perf_counter() - started) * 1000)
            if resp.status_code != 200 or resp.json()["value"] != written[name]:
                errors.append(f"get {name}: {resp.status_code}")
        chain = cp.call("GET", "/api/audit/verify")
        if not chain["ok"]:
            errors.append(f"audit chain broken: {chain}")
        db_bytes = (root / "home" / "state.db").stat().st_size
    finally:
        try:
            cp.down()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    get_p99 = percentile(get_ms, 0.99)
    set_p50 = round(statistics.median(set_ms), 3)
    goals = {"get_p99_under_3ms": get_p99 < 3.0, "set_p50_under_3ms": set_p50 < 3.0}
    return {
        "scenario": "vault through the API",
        "secrets": args.secrets,
        "reads": args.reads,
        "set_p50_ms": set_p50,
        "set_p99_ms": percentile(set_ms, 0.99),
        "get_p50_ms": round(statistics.median(get_ms), 3),
        "get_p99_ms": get_p99,
        "get_max_ms": round(max(get_ms), 3),
        "audit_entries_verified": chain.get("entries"),
        "state_db_bytes": db_bytes,
        "errors": errors[:10],
        "goals": goals,
        "ok": all(goals.values()) and not errors,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--secrets", type=int, default=200)  # MAX_SECRETS: more are refused (422)
    p.add_argument("--reads", type=int, default=10_000)
    p.add_argument("--cache-dir", default="/tmp/shipyard-bench-cache")
    args = p.parse_args()
    result = run(args)
    log(f"goals: {result['goals']}")
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
