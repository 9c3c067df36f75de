"""The operator's path on a real `prefect server`: the deploy step (work pool,
prefect.yaml's deployments, the paused-run automation), a process worker,
and a nightly sweep whose plan is over its limits. It pauses, the
automation's notification arrives, the form says what is at stake, and the
answer given through the API the UI's Resume dialog uses decides what
changes; the ledger names the reviewer either way.

One server for the module (about 12 s to start on a fresh database, plus the
deploy and the worker); each test sweeps its own demo systems and ledger,
handed to its flow run as the run's environment (job variables).
"""

from __future__ import annotations

import json
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from deployments import deploy, local
from retention.demo.build import build_demo, demo_env
from tasks.artifact_tables import (
    PLAN_KEY,
    PLAN_LIMITS_KEY,
    REASONS_KEY,
    REPORT_KEY,
    SUMMARY_KEY,
)
from tests.snapshots import query, table_rows

pytestmark = pytest.mark.prefect

AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
OVER = "crm-web-visits"  # 235 of 400 visits are due: over max_share 25%
WITHIN = "crm-newsletter-unsubscribed"
VISITS_CUTOFF = datetime(2025, 10, 1, 3, 0)  # AS_OF minus P13M, Helsinki wall clock, by hand


@dataclass
class Server:
    api_url: str
    inbox: local.NotificationInbox
    automation_id: UUID | None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("prefect-server")
    port = local.free_port()
    env = local.server_env(home, port)
    process = local.start_server(home, port, home / "server.log")
    inbox = local.NotificationInbox()
    worker = None
    try:
        local.wait_healthy(port, process)
        with local.api(env["PREFECT_API_URL"]):
            local.webhook_block(inbox.url).save(  # type: ignore[attr-defined]
                deploy.DEFAULT_NOTIFY_BLOCK
            )
            deployed = deploy.deploy(env=env)
            worker_env = {
                **env,
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "RETENTION_APPROVAL_POLL_S": "1",
            }
            worker = local.start_worker(worker_env, home / "worker.log")
            yield Server(env["PREFECT_API_URL"], inbox, deployed.automation_id)
    finally:
        local.stop(worker)
        local.stop(process)
        inbox.close()


@pytest.fixture
def demo(tmp_path: Path) -> dict[str, str]:
    root = tmp_path / "demo"
    build_demo(root, scale=1, as_of=AS_OF)
    return {**demo_env(root), "RETENTION_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}


def start_nightly(env: dict[str, str]) -> UUID:
    from prefect.deployments import run_deployment

    run = run_deployment(
        "retention-sweep/nightly",
        parameters={"as_of": AS_OF.isoformat(), "rules": [OVER, WITHIN]},
        job_variables={"env": env},
        timeout=0,
    )
    assert not isinstance(run, Coroutine)  # called from sync code: a FlowRun
    return UUID(str(run.id))


def wait_for(run_id: UUID, state: str, within_s: float = 120) -> Any:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + within_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(run_id)
            current = run.state.type.value if run.state else None
            if current == state:
                return run
            assert current not in ("FAILED", "CRASHED", "CANCELLED"), run.state
            time.sleep(0.5)
    pytest.fail(f"flow run {run_id} did not reach {state} within {within_s} s")


def paused_form(run: Any) -> tuple[str, dict[str, Any]]:
    from prefect.client.orchestration import get_client

    keys = run.state.state_details.run_input_keyset
    with get_client(sync_client=True) as client:
        description = json.loads(client.read_flow_run_input(run.id, keys["description"]))
        schema = json.loads(client.read_flow_run_input(run.id, keys["schema"]))
    return description, schema


def resume(run_id: UUID, answer: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        result = client.resume_flow_run(run_id, run_input=answer)
    assert result.status.value == "ACCEPT", result


def decision(ledger: str, run_id: UUID) -> dict[str, Any]:
    [entry] = query(
        ledger,
        "SELECT outcome, approved_by, detail FROM ledger_entries "
        "WHERE run_id = :run AND kind = 'decision'",
        run=str(run_id),
    )
    return entry


def due_visits(crm: str) -> set[Any]:
    visits = table_rows(crm, "web_visits")
    return {k for k, r in visits.items() if r["visited_at"] < VISITS_CUTOFF}


def test_a_paused_nightly_run_notifies_and_applies_what_the_reviewer_approved(
    server: Server, demo: dict[str, str]
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    crm, ledger = demo["RETENTION_CRM_URL"], demo["RETENTION_LEDGER_URL"]
    visits, due = table_rows(crm, "web_visits"), due_visits(crm)
    with local.api(server.api_url):
        run_id = start_nightly(demo)
        run = wait_for(run_id, "PAUSED")
        assert table_rows(crm, "web_visits") == visits  # nothing changes while it waits

        # The deploy step's automation told the operators.
        assert server.automation_id is not None
        deadline = time.monotonic() + 30
        while not any(run.name in m.get("subject", "") for m in server.inbox.messages):
            assert time.monotonic() < deadline, f"no notification: {server.inbox.messages}"
            time.sleep(0.5)
        [message] = [m for m in server.inbox.messages if run.name in m.get("subject", "")]
        assert str(run_id) in message["body"] and "nightly" in message["body"]

        # The form: what is at stake, until when, where the plan is; a reviewer is required.
        description, schema = paused_form(run)
        assert f"`{OVER}`" in description and f"delete {len(due)} records" in description
        assert "max_share 25%" in description and PLAN_KEY in description
        assert "EET" in description  # the deadline in the policy's zone
        assert schema["required"] == ["reviewer"]
        assert schema["properties"]["approved"]["default"] is False

        resume(run_id, {"approved": True, "reviewer": "Olli Operaattori", "comment": "ok"})
        done = wait_for(run_id, "COMPLETED")
        assert done.state.name == "Completed"
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )
    assert set(table_rows(crm, "web_visits")) == set(visits) - due
    answer = decision(ledger, run_id)
    assert (answer["outcome"], answer["approved_by"]) == ("approved", "Olli Operaattori")
    assert '"comment":"ok"' in answer["detail"]
    approvers = query(
        ledger,
        "SELECT DISTINCT approved_by FROM ledger_entries "
        "WHERE run_id = :run AND kind = 'intent' AND rule_id = :rule",
        run=str(run_id),
        rule=OVER,
    )
    assert approvers == [{"approved_by": "Olli Operaattori"}]
    # Every artifact belongs to the flow run (not "Flow run: None"), under its key.
    ours = {PLAN_KEY, PLAN_LIMITS_KEY, SUMMARY_KEY, REASONS_KEY, REPORT_KEY}
    published = [a for a in artifacts if a.key in ours]
    assert {a.key for a in published} == ours
    assert all(a.flow_run_id == run_id and a.task_run_id is None for a in published), [
        (a.key, a.task_run_id) for a in published
    ]


def test_a_refusal_changes_nothing_over_limits_and_is_in_the_ledger(
    server: Server, demo: dict[str, str]
) -> None:
    crm, ledger = demo["RETENTION_CRM_URL"], demo["RETENTION_LEDGER_URL"]
    visits = table_rows(crm, "web_visits")
    with local.api(server.api_url):
        run_id = start_nightly(demo)
        wait_for(run_id, "PAUSED")
        resume(run_id, {"approved": False, "reviewer": "Olli Operaattori", "comment": "too many"})
        done = wait_for(run_id, "COMPLETED")
    # Completed, but not a clean success: the name says so.
    assert done.state.name == "Refused"
    assert table_rows(crm, "web_visits") == visits
    answer = decision(ledger, run_id)
    assert answer["outcome"] == "refused" and '"comment":"too many"' in answer["detail"]
    assert answer["approved_by"] == "Olli Operaattori"  # who refused
    rules = {
        r["rule_id"]
        for r in query(
            ledger,
            "SELECT rule_id FROM ledger_entries WHERE run_id = :run AND kind = 'intent'",
            run=str(run_id),
        )
    }
    assert rules == {WITHIN}
