"""An erasure request as a Prefect flow: the same run as `retention erase`
(tasks.erase.run_erase), with the request as a typed form in the UI, rules
over the policy's limits pausing for approval, and the certificate published
as the run's `erasure-certificate` artifact.

Started from the UI (the erasure-request deployment's form), from another
system with `run_deployment`, or by the event `retention.erasure.requested`
(tasks/erasure_trigger.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import deployment, flow_run

from flows.approval import ask_operator
from retention.pipeline.erase import ErasureRequest
from retention.pipeline.plan import RulePlan
from retention.pipeline.run import Answer
from tasks import log_bridge
from tasks.erase import run_erase
from tasks.publish import publish_plan, publish_summary
from tasks.steps import prefect_steps

DEFAULT_POLICY = "deployments/id-north/policy.yaml"


@flow(name="erasure-request")
def erasure_request(
    request: ErasureRequest,
    policy: str = DEFAULT_POLICY,
    dry_run: bool = False,
    approval_timeout_s: int = 3600,
    lease_wait_s: float = 900.0,
) -> list[dict[str, Any]]:
    """Forget one person across every system, with a certificate.

    Args:
        request: The person's identities (at least one email, phone or id;
            a name only helps redact free text), your reference, and who
            received the request.
        policy: The policy file, relative to the project folder (RETENTION_HOME).
        dry_run: Resolve the person and show what would happen; change nothing.
        approval_timeout_s: How long an over-limit request waits for approval.
        lease_wait_s: How long to wait when another run is applying.
    """
    log_bridge.install()

    def ask(waiting: dict[str, str], plans: list[RulePlan]) -> Answer:
        return ask_operator(waiting, plans, approval_timeout_s)

    name = deployment.name
    result = run_erase(
        policy,
        [request],
        dry_run=dry_run,
        run_id=str(flow_run.id or uuid.uuid4()),
        trigger=f"deployment:{name}" if name else "erasure-request",
        lease_wait_s=lease_wait_s,
        steps=prefect_steps(ask, publish_plan, publish_summary),
    )
    for certificate in result.certificates:
        create_markdown_artifact(
            key="erasure-certificate",
            markdown=certificate.to_markdown(),
            description=f"Certificate of request {certificate.request_id}, from the ledger",
        )
    if dry_run:
        get_run_logger().info("dry run: records found %s", result.previews)
        return [{"request_id": k, "found": v} for k, v in result.previews.items()]
    return [json.loads(c.to_json()) for c in result.certificates]
