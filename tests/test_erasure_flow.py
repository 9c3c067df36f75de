"""The erasure-request flow on Prefect: the typed request as its parameter,
the certificate as an artifact, and the event path: the event
`retention.erasure.requested` makes the automation start a run of the
deployment with the request from the event's payload.

Prefect keeps nothing of the person: after a run, completed, failed once
started or refused by parameter validation, neither Prefect's database nor
its home folder (result storage) holds the request's email or phone number;
the run's stored parameters keep the request id and who received it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.events import emit_event
from prefect.server.database import provide_database_interface
from prefect.server.services.db_vacuum import vacuum_events_with_retention_overrides
from prefect.settings import (
    PREFECT_SERVER_DATABASE_CONNECTION_URL,
    PREFECT_SERVER_SERVICES_DB_VACUUM_EVENT_RETENTION_OVERRIDES,
    temporary_settings,
)

from flows.erasure_request import erasure_request
from retention import identity
from retention.pipeline.erase import ErasureRequest
from tasks.erasure_trigger import EVENT, ensure_erasure_automation, event_retention_overrides
from tests.demo_world import make_world
from tests.snapshots import query
from tests.test_erasure import a_person_with_everything

pytestmark = pytest.mark.prefect


def test_the_flow_erases_publishes_the_certificate_and_prefect_forgets_the_person(
    prefect_harness, tmp_path, monkeypatch
):
    """A positive control writes the identities back into the run's stored
    parameters: the scan must then find them there, and only there."""
    world = make_world(tmp_path / "run", None)
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    contact = a_person_with_everything(world)["contact"]
    email, phone = contact["email"], contact["phone"]
    assert email and phone, "the chosen person has no phone number"
    request_id = f"FLOW-{uuid.uuid4().hex[:6]}"
    state = erasure_request(
        ErasureRequest(
            request_id=request_id, email=[email.upper()], phone=[phone], requested_by="DPO"
        ),
        return_state=True,
    )
    certificates = state.result()
    assert [c["request_id"] for c in certificates] == [request_id]
    assert certificates[0]["status"] == "completed"
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()
        keys = {a.key for a in artifact}
    assert "erasure-certificate" in keys
    left = query(world.crm, "SELECT email FROM contacts WHERE id = :id", id=contact["id"])
    assert left in ([], [{"email": None}])

    assert identity_hits(email, phone) == []
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    with get_client(sync_client=True) as client:
        kept = client.read_flow_run(run_id).parameters
        assert kept["request"]["request_id"] == request_id
        assert kept["request"]["requested_by"] == "DPO"
        assert kept["request"]["email"] == kept["request"]["phone"] == []
        planted = {**kept, "request": {"email": [email], "phone": [phone]}}
        client.update_flow_run(run_id, parameters=planted)
        try:
            assert identity_hits(email, phone) == ["flow_run.parameters"] * 2
        finally:
            client.update_flow_run(run_id, parameters=kept)


def test_prefect_forgets_the_person_of_a_failed_or_refused_request(prefect_harness):
    """One run fails once started (its policy file is not there); Prefect
    refuses the other before it starts (its request does not validate: an
    unknown key carries the email). Neither needs a world: nothing is
    reached."""
    email, phone = a_stranger()
    failed = erasure_request(
        ErasureRequest(request_id=f"FAIL-{uuid.uuid4().hex[:6]}", email=[email], phone=[phone]),
        policy="no/such/policy.yaml",
        return_state=True,
    )
    refused = erasure_request(
        {"request_id": "BAD-1", "phone": [phone], "e_mail": [email]},  # type: ignore[arg-type]
        return_state=True,
    )
    assert failed.is_failed() and refused.is_failed()
    assert "Validation of flow parameters failed" in (refused.message or "")
    assert identity_hits(email, phone) == []


def test_an_erasure_requested_event_runs_the_deployment_with_its_request(prefect_harness):
    """And what the event path leaves in Prefect: the event and the
    automation's `prefect.automation.triggered` hold the request until the
    database vacuum trims them by the per-type retention the server is given
    (event_retention_overrides; run here with 1 s instead of an hour); the
    run, never started here (no worker), holds it until deleted."""
    runner = erasure_request.to_deployment(name="erasure-request")
    deployment_id: UUID = runner.apply()  # type: ignore[union-attr,assignment]
    request_id = f"EVT-{uuid.uuid4().hex[:6]}"
    email, phone = a_stranger()
    with get_client(sync_client=True) as client:
        ensure_erasure_automation(client, deployment_id)

        def runs_of_this_request() -> list[Any]:
            return [
                r
                for r in client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
                )
                if r.parameters.get("request", {}).get("request_id") == request_id
            ]

        deadline = time.monotonic() + 30
        runs: list[Any] = []
        next_send = 0.0
        while time.monotonic() < deadline and not runs:
            # The first event after an automation is made can be missed while
            # its trigger loads: send again until the run appears, but seldom,
            # since on a loaded machine each event sent may still start a run.
            if time.monotonic() >= next_send:
                emit_event(
                    event=EVENT,
                    resource={"prefect.resource.id": f"retention.erasure-request.{request_id}"},
                    payload={
                        "request": {"request_id": request_id, "email": [email], "phone": [phone]}
                    },
                )
                next_send = time.monotonic() + 5.0
            time.sleep(0.5)
            runs = runs_of_this_request()
        assert runs, "no run of the erasure-request deployment was started by the event"
        assert runs[0].parameters["request"]["email"] == [email]

        # The server persists events in batches: wait for both kinds, each
        # holding the email and the phone number.
        in_events = 0
        while time.monotonic() < deadline and in_events < 4:
            time.sleep(0.5)
            in_events = identity_hits(email, phone).count("events.payload")
        assert in_events >= 4, identity_hits(email, phone)
        time.sleep(1.1)
        overrides = json.loads(event_retention_overrides(seconds=1))
        with temporary_settings(
            {PREFECT_SERVER_SERVICES_DB_VACUUM_EVENT_RETENTION_OVERRIDES: overrides}
        ):
            # The vacuum's own step (Prefect's server runs it hourly), on the
            # harness's database.
            asyncio.run(vacuum_events_with_retention_overrides(db=provide_database_interface()))
        assert set(identity_hits(email, phone)) == {"flow_run.parameters"}
        # Every run an event started, also one that appeared late.
        settle = time.monotonic() + 10
        while True:
            for run in runs_of_this_request():
                client.delete_flow_run(run.id)
            left = identity_hits(email, phone)
            if not left or time.monotonic() > settle:
                break
            time.sleep(0.5)
    assert left == []


# --- What Prefect keeps of a request ------------------------------------------


def a_stranger() -> tuple[str, str]:
    """An email and a mobile number no other test uses."""
    number = uuid.uuid4().int % 10_000_000
    return f"stranger.{number:07d}@example.fi", f"+358 40 {number:07d}"


def identity_hits(email: str, phone: str) -> list[str]:
    """Where Prefect holds the email (any case) or the phone number (any
    spelling, compared digit by digit), one entry per value found: each
    text cell of each table of its database, read with SQL (what Prefect
    holds; older page images left in its write-ahead log are README's
    matter), and every file in its home folder, result storage included,
    read as bytes."""
    digits = set(identity.parse_phone(phone).digit_forms()) | {re.sub(r"\D", "", phone)}

    def found(text: str) -> list[str]:
        numbers = {re.sub(r"\D", "", m) for m in re.findall(r"\+?\d[\d \-().]{5,}\d", text)}
        return [
            kind
            for kind, hit in (
                ("email", email.casefold() in text.casefold()),
                ("phone", bool(numbers & digits)),
            )
            if hit
        ]

    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()  # the harness's own temporary folder
    assert url and url.startswith("sqlite"), url
    hits: list[str] = []
    with contextlib.closing(
        sqlite3.connect(f"file:{url.split('///', 1)[1]}?mode=ro", uri=True)
    ) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            columns = [c[0] for c in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", errors="replace")
                    if isinstance(value, str):
                        hits += [f"{table}.{column}" for _ in found(value)]
    home = Path(os.environ["PREFECT_HOME"])
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        hits += [str(path) for _ in found(path.read_bytes().decode("utf-8", errors="replace"))]
    return hits
