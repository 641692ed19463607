"""The API fuzzed from its own OpenAPI document: a real control plane, schemathesis, an admin token.

Every operation of ``/openapi.json`` (read with the token, as the document is behind it) gets
valid cases (positive: the answer must match the declared schema, errors included) and
invalid ones (negative: the answer must be a 4xx, never a 5xx). Two routes are left out, as
they would end the run: shutdown, and the vault's key rotation (it re-encrypts every secret
under a new key while the fuzzer reads them). The data routes are fuzzed in full, GETs and
POSTs: the app is run without a database (``database`` is taken out of its shipyard.yaml),
so a backup, a verification, a restore, a drill and ``migrate up|down`` start a job that
fails at once (nothing to back up, restore into or migrate), and ``migrate status|plan``
answer 409; the jobs' answers (202) and their listing are checked all the same. The run is bounded by
``SHIPYARD_FUZZ_EXAMPLES`` examples per operation and mode (default 25); it prints how many
cases ran, which docs/security.md records.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
from tests.integration.conftest import Shipyard

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("SHIPYARD_FUZZ_EXAMPLES", "25"))
LEFT_OUT = (
    ("POST", "/api/shutdown"),
    ("POST", "/api/vault/rotate-key"),
)
DATA_ROUTES = ("/api/backups/", "/api/migrations/", "/api/drills/", "/api/jobs")


@dataclass
class Tally:
    cases: int = 0
    server_errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


def left_out(method: str, path: str) -> bool:
    return any(method == m and path.startswith(p) for m, p in LEFT_OUT)


def fuzz_admin(shipyard: Shipyard) -> str:
    """A token of its own, for an admin the fuzzer cannot guess the name of (it may disable users)."""
    with shipyard.api() as api:
        made = api.post("/api/users", json={"name": "fuzz-admin-q7x2", "role": "admin", "env": "*"})
    assert made.status_code == 200, made.text
    return str(made.json()["token"])


def run_operation(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    base: str,
    token: str,
    tally: Tally,
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    label = f"{operation.method.upper()} {operation.path} ({mode.value})"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=base, headers=headers, timeout=30)
        tally.cases += 1
        shown = f"{label}: {case.path_parameters} {case.query} {str(case.body)[:200]}"
        if response.status_code >= 500:
            tally.server_errors.append(f"{shown} -> {response.status_code} {response.text[:300]}")
            return
        if mode == GenerationMode.POSITIVE:
            try:
                case.validate_response(response, checks=[response_schema_conformance], headers=headers)
            except AssertionError as exc:  # schemathesis' failures are AssertionErrors
                tally.mismatches.append(f"{shown} -> {response.status_code}: {str(exc)[:400]}")

    try:
        one()
    except Unsatisfiable:
        if mode == GenerationMode.POSITIVE:
            raise  # an operation with nothing to make invalid (no parameter, no body) has no negative case


@pytest.mark.timeout(900)
def test_fuzzing_the_api_finds_no_server_error_and_answers_match_their_schemas(shipyard: Shipyard) -> None:
    del shipyard.manifest["database"]  # the data routes' jobs fail fast: see the module's docstring
    shipyard.write_manifest()
    shipyard.up()
    base = f"http://127.0.0.1:{shipyard.api_port}"
    assert httpx.get(f"{base}/openapi.json", trust_env=False).status_code == 401
    token = fuzz_admin(shipyard)
    document = httpx.get(
        f"{base}/openapi.json", headers={"Authorization": f"Bearer {token}"}, trust_env=False
    ).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    fuzzed = [op for op in operations if not left_out(op.method.upper(), op.path)]
    assert len(fuzzed) >= 40, [op.path for op in fuzzed]
    data = [f"{op.method.upper()} {op.path}" for op in fuzzed if op.path.startswith(DATA_ROUTES)]
    assert len(data) == 11, data  # backups x4, migrations x3, drills x2, jobs x2: none left out

    tally = Tally()
    for operation in fuzzed:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_operation(operation, mode, base, token, tally)

    print(
        json.dumps(
            {"operations": len(fuzzed), "cases": tally.cases, "server_errors": len(tally.server_errors)}
        )
    )
    assert not tally.server_errors, "\n".join(tally.server_errors[:20])
    assert not tally.mismatches, "\n".join(tally.mismatches[:20])
    assert tally.cases >= len(fuzzed) * EXAMPLES  # every operation ran
