"""Scale-out: the nightly sweep with each big rule split into key ranges
applied in parallel on a Dask cluster (a local one, 2 worker processes, as
the flow would be given a real cluster's address) ends exactly as the
default, one-process run does: the same data, the same counts, and a ledger
that verifies, with no intent left open and each rule's changes claimed once.

Batches of 50 (not the policy's 1000), so the demo's bigger rules span
several batches and split into two ranges."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from retention.demo.build import build_demo, demo_env
from retention.ledger import Ledger
from retention.pipeline.outcome import RunSummary
from retention.runtime import READ_ONLY_KEYS
from tests.snapshots import database_snapshot, folder_listing, query

pytestmark = pytest.mark.prefect

ROOT = Path(__file__).parent.parent
AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
SPLIT = ("crm-web-visits", "ticketing-comments-of-deregistered")  # delete, anonymise
# Rules that follow no other rule, so they can run alone: the two big ones,
# one that fits a batch, one on a folder (never split).
RULES = [*SPLIT, "crm-newsletter-unsubscribed", "media-photos-five-years"]


@pytest.fixture
def small_batches(tmp_path: Path) -> str:
    text = (ROOT / "deployments/id-north/policy.yaml").read_text()
    assert "batch_size: 1000" in text
    policy = tmp_path / "policy.yaml"
    policy.write_text(text.replace("batch_size: 1000", "batch_size: 50"))
    return str(policy)


def world(tmp_path: Path, name: str) -> dict[str, str]:
    root = tmp_path / name
    build_demo(root, scale=1, as_of=AS_OF)
    return {**demo_env(root), "RETENTION_LEDGER_URL": f"sqlite:///{root / 'ledger.db'}"}


@contextmanager
def local_cluster() -> Iterator[str]:
    """A Dask cluster of 2 worker processes; its scheduler's address. The
    workers take the environment as it is when they start."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield str(cluster.scheduler_address)


def state(env: dict[str, str], summary: RunSummary) -> dict[str, Any]:
    media = Path(env["RETENTION_MEDIA_PATH"])
    return {
        "crm": database_snapshot(env["RETENTION_CRM_URL"]),
        "ticketing": database_snapshot(env["RETENTION_TICKETING_URL"]),
        "media": folder_listing(media),
        "counts": [o.as_row() for o in summary.outcomes],
    }


def claims(ledger: str, run_id: str) -> dict[str, int]:
    rows = query(
        ledger,
        "SELECT i.rule_id AS rule, SUM(c.count) AS n FROM ledger_entries c "
        "JOIN ledger_entries i ON c.intent_seq = i.seq "
        "WHERE c.run_id = :run AND c.kind = 'completion' GROUP BY i.rule_id",
        run=run_id,
    )
    return {r["rule"]: int(r["n"]) for r in rows}


def test_a_sweep_split_into_key_ranges_on_dask_ends_as_the_default_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
    small_batches: str,
) -> None:
    from tasks.sweep import run_sweep

    one, many = world(tmp_path, "one-process"), world(tmp_path, "dask")
    for name, value in one.items():
        monkeypatch.setenv(name, value)
    default = run_sweep(small_batches, rules=RULES, as_of=AS_OF, approved_by="tester")
    assert default.ok and default.status == "completed"
    assert all(o.status == "done" for o in default.outcomes) and len(default.outcomes) == 4

    for name, value in many.items():
        monkeypatch.setenv(name, value)
    from flows.nightly_sweep import retention_sweep

    with local_cluster() as address:
        parallel = retention_sweep(
            policy=small_batches,
            rules=RULES,
            as_of=AS_OF,
            approved_by="tester",
            ask_approval=False,
            parallel_ranges=2,
            dask_address=address,
        )
    assert isinstance(parallel, RunSummary) and parallel.status == "completed"

    assert state(many, parallel) == state(one, default)
    assert claims(many["RETENTION_LEDGER_URL"], parallel.run_id) == claims(
        one["RETENTION_LEDGER_URL"], default.run_id
    )
    ledger = Ledger.open(
        many["RETENTION_LEDGER_URL"], keys=READ_ONLY_KEYS, current_key_id="read-only"
    )
    try:
        assert ledger.verify().ok
        assert ledger.unfinished_intents() == []
    finally:
        ledger.close()
    expected = {f"apply {rule} range {n}" for rule in SPLIT for n in (1, 2)}
    assert expected <= ranges_run(parallel.run_id)


def ranges_run(run_id: str) -> set[str]:
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)]))
        )
    return {r.name for r in runs if r.state is not None and r.state.is_completed()}
