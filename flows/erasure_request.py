"""An erasure request as a Prefect flow: the same run as `retention erase`
(tasks.erase.run_erase), with the request as a typed form in the UI, rules
over the policy's limits pausing for approval, and the certificate published
as the run's `erasure-certificate` artifact.

Started from the UI (the erasure-request deployment's form), from another
system with `run_deployment`, or by the event `retention.erasure.requested`
(tasks/erasure_trigger.py).

Prefect keeps a flow run's parameters in its database for as long as it
keeps the run: the register must not keep a forgotten person's identities
there. So the flow overwrites its own run's stored parameters with a copy
that names nobody (`forgotten`), first thing when its body starts and again
when the run ends however it ends (hooks on completion, failure, crash and
cancellation; a request refused by validation never reaches the body).
What the event path leaves in Prefect's events table: README, "Erasure
requests through Prefect"."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from prefect import Flow, flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import FlowRun
from prefect.runtime import deployment, flow_run
from prefect.states import State
from pydantic import ValidationError

from flows.approval import ask_operator
from flows.run_parameters import replace_stored_parameters
from retention.pipeline.erase import ErasureRequest
from retention.pipeline.plan import RulePlan
from retention.pipeline.run import Answer
from tasks import log_bridge
from tasks.erase import run_erase
from tasks.publish import publish_plan, publish_summary
from tasks.steps import prefect_steps

DEFAULT_POLICY = "deployments/id-north/policy.yaml"

# What a run's stored parameters keep of the request: the reference, the
# kind, who received it and an override's reason (all in the ledger too).
# An allowlist, not a list of identity fields: a request that failed
# validation may hold an identity under any key.
_REQUEST_KEPT = ("request_id", "kind", "requested_by", "override_restriction")
_SETTINGS_KEPT = ("policy", "dry_run", "approval_timeout_s", "lease_wait_s")


def forgotten(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The flow run's parameters with every identity of the request removed.
    Idempotent; the result still fits the flow's parameter schema, but a
    retry of the run from the UI is refused (no identity to find anyone by):
    a failed request is sent again instead, with the same request id."""
    request = parameters.get("request")
    if isinstance(request, ErasureRequest):
        request = request.model_dump(mode="json")
    kept = (
        {k: request[k] for k in _REQUEST_KEPT if k in request}
        if isinstance(request, Mapping)
        else {}
    )
    try:
        # Validated so that a malformed reference is dropped, not kept.
        safe = ErasureRequest.model_validate(kept).model_dump(mode="json")
    except ValidationError:  # no valid reference: nothing of the request is kept
        safe = {}
    settings = {
        k: v for k in _SETTINGS_KEPT if isinstance(v := parameters.get(k), (str, int, float, bool))
    }
    return {"request": safe, **settings}


def forget_request(flow_run_id: UUID, parameters: Mapping[str, Any]) -> None:
    replace_stored_parameters(flow_run_id, forgotten(parameters))


def _forget_at_end(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    # The body forgot the request when it started; this covers a run that
    # ended before its body did (parameters refused by validation, a crash
    # or a cancellation before start). Prefect logs a hook's error; the
    # error names no identity (forgotten's output only is sent).
    # (The argument names are Prefect's hook protocol's.)
    forget_request(flow_run.id, flow_run.parameters)


@flow(
    name="erasure-request",
    persist_result=False,  # the certificates are in the ledger; no copy in result storage
    on_completion=[_forget_at_end],
    on_failure=[_forget_at_end],
    on_crashed=[_forget_at_end],
    on_cancellation=[_forget_at_end],
)
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
    # Before anything else, so that the identities are out of Prefect's
    # database while the run works or waits for an approval; the request is
    # in memory from here on. If the API refuses, the run fails before
    # changing anything and its failure hook tries again.
    this_run = flow_run.id
    if this_run is not None:
        settings = {
            "policy": policy,
            "dry_run": dry_run,
            "approval_timeout_s": approval_timeout_s,
            "lease_wait_s": lease_wait_s,
        }
        forget_request(UUID(this_run), {"request": request, **settings})
        get_run_logger().info(
            "request %s: its identities are removed from this run's stored parameters",
            request.request_id,
        )

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
