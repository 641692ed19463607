"""The data routes' OpenAPI document and models as units: every route that starts a job documents
its 202 with the job; paths and bodies are bounded; the engine's records decode with the models
the CLI uses (a backup record with its verification, a drill, a restore's point)."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
from pydantic import ValidationError

from shipyard.core.backups import BackupRecord, ObjectEntry, Verification
from shipyard.core.drill import DrillRecord
from shipyard.core.jobs import Job
from shipyard.core.verify_queries import QueryCheck
from shipyard.schemas import data as d
from shipyard.server.api import create_app

JOB_ROUTES = (
    "/api/backups/{env}",
    "/api/backups/{env}/verify",
    "/api/backups/{env}/restore",
    "/api/migrations/{env}/{direction}",
    "/api/drills/{env}",
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(MagicMock(), lambda: None).openapi()


@pytest.mark.parametrize("path", JOB_ROUTES)
def test_a_route_that_starts_a_job_documents_its_202_with_the_job(
    document: dict[str, Any], path: str
) -> None:
    responses = document["paths"][path]["post"]["responses"]
    assert "200" not in responses
    assert responses["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobStarted"
    }


@pytest.mark.parametrize(
    ("path", "method", "model"),
    [
        ("/api/backups/{env}", "get", "Catalog"),
        ("/api/drills/{env}", "get", "DrillList"),
        ("/api/jobs", "get", "JobList"),
        ("/api/jobs/{job_id}", "get", "JobShown"),
        ("/api/migrations/{env}/status", "post", "MigrationStatus"),
        ("/api/migrations/{env}/plan", "post", "MigrationPlan"),
    ],
)
def test_the_data_routes_document_their_answers(
    document: dict[str, Any], path: str, method: str, model: str
) -> None:
    schema = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": f"#/components/schemas/{model}"}


def test_paths_and_queries_are_bounded(document: dict[str, Any]) -> None:
    params = {p["name"]: p["schema"] for p in document["paths"]["/api/jobs/{job_id}"]["get"]["parameters"]}
    assert params["job_id"]["maximum"] == 2**53 and params["after"]["minimum"] == 0
    listing = {p["name"]: p for p in document["paths"]["/api/jobs"]["get"]["parameters"]}
    assert listing["limit"]["schema"]["maximum"] == 10000
    migrate = document["paths"]["/api/migrations/{env}/{direction}"]["post"]["parameters"]
    assert [p["schema"].get("enum") for p in migrate if p["name"] == "direction"] == [["up", "down"]]


@pytest.mark.parametrize(
    "body",
    [
        {"to_time": 1e300},  # beyond the end of 9999: raised OverflowError on the job's thread
        {"to_time": -1},
        {"backup": "../catalog.json"},
        {"target": "Prod\n"},
        {"mask": True, "extra": 1},
    ],
)
def test_a_restore_body_out_of_bounds_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        d.RestoreBody.model_validate(body)


def test_a_reason_is_bounded_and_a_backup_id_has_its_shape() -> None:
    with pytest.raises(ValidationError):
        d.CreateBody(reason="x" * 201)
    assert d.VerifyBody(backup="b-20261201T120000Z-1a2b3c").backup == "b-20261201T120000Z-1a2b3c"


def test_the_engines_records_decode_with_the_cli_models() -> None:
    check = QueryCheck("rows", True, ">= 1", "3")
    record = BackupRecord(
        "b-20261201T120000Z-1a2b3c", "dev", "sqlite", "manual", "complete", 10.0, 12.5,
        objects=(ObjectEntry("snap", "snapshot", 10, "a" * 64, 8, "b" * 64),),
        verification=Verification(13.0, True, 0.4, "integrity ok", (check,)),
    )  # fmt: skip
    backup = d.BackupDone.model_validate({"backup": record.to_json()}).backup
    assert backup.duration_s == 2.5 and backup.verification is not None
    assert backup.verification.queries[0].got == "3" and backup.objects[0].role == "snapshot"
    drill = DrillRecord("d-1", "dev", "manual", "ann", 1.0, 2.0, 60.0, 5.0, "passed", queries=(check,))
    assert d.DrillDone.model_validate({"drill": drill.to_json()}).drill.queries[0].name == "rows"
    job = Job(7, "backup.restore", "dev", {"from": "dev"}, "ann", "succeeded", 1.0, result={"x": 1})
    assert d.JobStarted.model_validate({"job": job.to_json()}).job.result == {"x": 1}
    restored = d.Restored.model_validate(
        {
            "deployment": 3, "restored": "b-1x", "target": "dev", "safety_backup": None, "to_time": None,
            "point": {"at": 5.0, "position": "WAL replayed to LSN 0/3", "lsn": "0/3", "newest": True,
                      "asked": None, "said": "restored to the newest point shipped"},
            "kept_aside": "/srv/notes.db.broken",
        }
    )  # fmt: skip
    assert restored.point is not None and restored.point.lsn == "0/3" and restored.masked == []


def test_the_apis_verbs_and_directions_are_the_engines() -> None:
    """The path types refuse what the engine does not know, and take all it does: the two lists
    cannot drift apart (only these names reach the audit log's action names)."""
    from typing import get_args

    from shipyard.core.rollout import VERBS
    from shipyard.engine.data.migrations import DIRECTIONS
    from shipyard.schemas.deployments import RolloutVerb
    from shipyard.server.backups import Direction

    assert set(get_args(RolloutVerb)) == set(VERBS)
    assert set(get_args(Direction)) == set(DIRECTIONS)
