"""In Prefect: the nightly sweep runs the coverage check first and
publishes its findings as the run's `retention-coverage` artifact, and goes
on (a warning, not a stop); the access-request flow writes the person's
files and publishes counts only, and Prefect's copy of its parameters names
nobody."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from retention.demo.build import build_demo, demo_env
from retention.pipeline.outcome import RunSummary
from tests.demo_world import AS_OF, POLICY
from tests.snapshots import query

PLANTED = "planted.person@hidden-example.fi"


@pytest.fixture
def demo(tmp_path, monkeypatch, prefect_harness) -> dict[str, str]:
    build_demo(tmp_path / "demo", scale=1, as_of=AS_OF)
    env = demo_env(tmp_path / "demo")
    env["RETENTION_LEDGER_URL"] = f"sqlite:///{tmp_path / 'ledger.db'}"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def artifact_of(run_id: Any, key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(str(run_id))]),
            )
        )
    return str(artifact.data)


def test_the_nightly_sweep_publishes_coverage_findings_and_goes_on(demo):
    from flows.nightly_sweep import retention_sweep

    engine = sa.create_engine(demo["RETENTION_CRM_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE contacts ADD private_email VARCHAR(200)"))
        conn.execute(sa.text(f"UPDATE contacts SET private_email = '{PLANTED}' WHERE id = 1"))
    engine.dispose()

    summary = retention_sweep(policy=str(POLICY), as_of=AS_OF, dry_run=True, ask_approval=False)

    assert isinstance(summary, RunSummary)
    assert summary.ok and summary.outcomes, "the sweep planned every rule all the same"
    published = artifact_of(summary.run_id, "retention-coverage")
    row = next(line for line in published.splitlines() if "crm.contacts.private_email" in line)
    assert row.startswith("| FAIL") and "email" in row
    assert PLANTED not in published


def test_the_access_request_flow_writes_the_files_and_publishes_counts_only(demo, tmp_path):
    from flows.access_request import access_request

    [contact] = query(demo["RETENTION_CRM_URL"], "SELECT id, email FROM contacts WHERE id = 6")
    state = access_request(
        email=[contact["email"]], request_id="ACC-1", out_dir=str(tmp_path / "out"),
        return_state=True,
    )  # fmt: skip
    result = state.result()

    assert result["records"]["crm.contacts"] == 1 and not result["nothing_held"]
    assert contact["email"] in Path(result["files"]["json"]).read_text()
    published = artifact_of(state.state_details.flow_run_id, "retention-access")
    assert "| crm.contacts | 1 |" in published
    assert contact["email"] not in published
    # Prefect's stored copy of the run's parameters names nobody.
    stored = stored_parameters(state.state_details.flow_run_id)
    assert stored["request_id"] == "ACC-1" and "email" not in stored
    assert contact["email"].casefold() not in repr(stored).casefold()


def test_an_access_request_refused_by_validation_leaves_no_identity_in_prefect(demo):
    """A request Prefect refuses before the body (an email given as a
    string, not a list) is cleared by the end hooks."""
    from flows.access_request import access_request

    state = access_request(
        email=PLANTED,  # type: ignore[arg-type]
        request_id="ACC-2",
        return_state=True,
    )
    assert state.is_failed() and "Validation of flow parameters failed" in (state.message or "")
    stored = stored_parameters(state.state_details.flow_run_id)
    assert PLANTED not in repr(stored) and stored.get("request_id") == "ACC-2"


def stored_parameters(run_id: Any) -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return dict(client.read_flow_run(UUID(str(run_id))).parameters)
