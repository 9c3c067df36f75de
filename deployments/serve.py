"""Serve the deployments from one long-running process, without a work pool:
`python deployments/serve.py` (stops on SIGTERM; Prefect pauses the
deployments as it shuts down)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import serve
from prefect.schedules import Cron

from flows.nightly_sweep import DEFAULT_POLICY, retention_sweep
from flows.verify_ledger import verify_ledger

# Absolute, so the served runs find the policy from any working directory.
POLICY = str(Path(__file__).resolve().parent.parent / DEFAULT_POLICY)
APPROVAL_TIMEOUT_S = 6 * 3600  # as in prefect.yaml: an operator has until morning

if __name__ == "__main__":
    deployments: list[Any] = [
        retention_sweep.to_deployment(
            name="nightly",
            parameters={
                "policy": POLICY,
                "ask_approval": True,
                "approval_timeout_s": APPROVAL_TIMEOUT_S,
            },
            schedules=[Cron("0 2 * * *", timezone="Europe/Helsinki")],
        ),
        retention_sweep.to_deployment(
            name="on-demand", parameters={"policy": POLICY, "dry_run": True}
        ),
        verify_ledger.to_deployment(
            name="verify-ledger", schedules=[Cron("30 6 * * *", timezone="Europe/Helsinki")]
        ),
    ]
    serve(*deployments)
