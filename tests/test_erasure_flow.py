"""The erasure-request flow on Prefect: the typed request as its parameter,
the certificate as an artifact, and the event path: the event
`retention.erasure.requested` makes the automation start a run of the
deployment with the request from the event's payload."""

from __future__ import annotations

import time
import uuid
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.events import emit_event

from flows.erasure_request import erasure_request
from retention.pipeline.erase import ErasureRequest
from tasks.erasure_trigger import EVENT, ensure_erasure_automation
from tests.demo_world import make_world
from tests.snapshots import query

pytestmark = pytest.mark.prefect


def test_the_flow_erases_and_publishes_the_certificate(prefect_harness, tmp_path, monkeypatch):
    world = make_world(tmp_path / "run", None)
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    former = query(
        world.crm, "SELECT id, email FROM contacts WHERE relationship_status = 'former' "
        "ORDER BY id"
    )[0]  # fmt: skip
    request_id = f"FLOW-{uuid.uuid4().hex[:6]}"
    certificates = erasure_request(
        ErasureRequest(request_id=request_id, email=[former["email"]], requested_by="DPO")
    )
    assert [c["request_id"] for c in certificates] == [request_id]
    assert certificates[0]["status"] == "completed"
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()
        keys = {a.key for a in artifact}
    assert "erasure-certificate" in keys
    left = query(world.crm, "SELECT email FROM contacts WHERE id = :id", id=former["id"])
    assert left in ([], [{"email": None}])


def test_an_erasure_requested_event_runs_the_deployment_with_its_request(prefect_harness):
    runner = erasure_request.to_deployment(name="erasure-request")
    deployment_id: UUID = runner.apply()  # type: ignore[union-attr,assignment]
    request_id = f"EVT-{uuid.uuid4().hex[:6]}"
    with get_client(sync_client=True) as client:
        ensure_erasure_automation(client, deployment_id)
        deadline = time.monotonic() + 30
        runs: list[Any] = []
        while time.monotonic() < deadline and not runs:
            # The first event after an automation is made can be missed while
            # its trigger loads: send until the run appears.
            emit_event(
                event=EVENT,
                resource={"prefect.resource.id": f"retention.erasure-request.{request_id}"},
                payload={"request": {"request_id": request_id, "email": ["anna@example.fi"]}},
            )
            time.sleep(1.0)
            runs = [
                r
                for r in client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
                )
                if r.parameters.get("request", {}).get("request_id") == request_id
            ]
    assert runs, "no run of the erasure-request deployment was started by the event"
    assert runs[0].parameters["request"]["email"] == ["anna@example.fi"]
