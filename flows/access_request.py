"""The access-request flow: what the register holds about one person and
how long it keeps it, written as a JSON bundle and a Markdown and an HTML
report into the access folder on the worker (tasks.access). The artifact
names the files and counts records; it never holds the person's data, which
would then live on in Prefect's database. For the same reason the run's
stored parameters lose the person's identities as soon as the flow has them
(flows.run_parameters), and again when it ends."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import Flow, flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import FlowRun
from prefect.runtime import flow_run
from prefect.states import State

from flows.run_parameters import replace_stored_parameters
from retention.access.request import AccessRequest, new_access_id
from tasks import log_bridge
from tasks.access import run_access, write_bundle

DEFAULT_POLICY = "deployments/id-north/policy.yaml"
ACCESS_KEY = "retention-access"


# What the stored parameters keep: the reference, the receiver, the settings
# (an allowlist: every identity field, and any unknown one, is dropped).
_KEPT = ("request_id", "requested_by", "policy", "out_dir")


def anonymous_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k in _KEPT if isinstance(v := parameters.get(k), str)}


def _forget_at_end(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    # Also a run that never reached the body (parameters refused by
    # validation, a crash or a cancellation first). The names are the hook protocol's.
    replace_stored_parameters(flow_run.id, anonymous_parameters(flow_run.parameters))


@flow(
    name="access-request",
    persist_result=False,
    on_completion=[_forget_at_end],
    on_failure=[_forget_at_end],
    on_crashed=[_forget_at_end],
    on_cancellation=[_forget_at_end],
)
def access_request(
    email: list[str] | None = None,
    phone: list[str] | None = None,
    crm_contact_id: list[str] | None = None,
    ticketing_user_id: list[str] | None = None,
    request_id: str | None = None,
    requested_by: str = "",
    policy: str = DEFAULT_POLICY,
    out_dir: str | None = None,
) -> dict[str, Any]:
    """Everything held about one person, system by system, with each
    category's purpose, legal basis and how long it is kept (right of
    access and portability). The access goes to the ledger.

    Args:
        email: The person's email addresses.
        phone: Their phone numbers (+358..., 040...).
        crm_contact_id: Their CRM contact ids.
        ticketing_user_id: Their ticketing user ids.
        request_id: Your reference for the request (default: a new one).
        requested_by: Who received the request (to the ledger; default: this
            flow run's name).
        policy: The policy file, relative to the project folder or absolute.
        out_dir: Where to write the bundle and reports (default:
            RETENTION_ACCESS_DIR, else access-reports/ in the project folder).
    """
    log_bridge.install()
    this_run = flow_run.id
    if this_run is not None:  # the identities are in memory from here on
        settings = {"policy": policy, "out_dir": out_dir}
        given = {"request_id": request_id, "requested_by": requested_by, **settings}
        replace_stored_parameters(UUID(this_run), anonymous_parameters(given))
    request = AccessRequest(
        request_id=request_id or new_access_id(),
        email=email or [],
        phone=phone or [],
        crm_contact_id=crm_contact_id or [],
        ticketing_user_id=ticketing_user_id or [],
        # The ledger says who asked for the data: the receiver if named, else this run.
        requested_by=requested_by or f"prefect:{flow_run.name or 'access-request'}",
    )
    bundle = run_access(policy, request)
    folder = Path(out_dir or os.environ.get("RETENTION_ACCESS_DIR") or "access-reports")
    paths = write_bundle(bundle, folder.resolve())
    counts = bundle.counts()
    held = (
        "Nothing is held about this person."
        if bundle.nothing_held
        else "\n".join(f"| {name} | {n} |" for name, n in counts.items())
    )
    table = "" if bundle.nothing_held else "| dataset | records |\n|---|---|\n"
    files = "\n".join(f"- {kind}: `{path}`" for kind, path in paths.items())
    create_markdown_artifact(
        key=ACCESS_KEY,
        markdown=f"### Access request {bundle.request_id}\n\n{table}{held}\n\n"
        f"The bundle and reports, on the worker (they hold the person's data):\n{files}\n",
        description=f"Access request {bundle.request_id}: {bundle.record_count} record(s)",
    )
    get_run_logger().info("access answered: %d record(s)", bundle.record_count)
    return {
        "request_id": bundle.request_id,
        "records": counts,
        "nothing_held": bundle.nothing_held,
        "files": {kind: str(path) for kind, path in paths.items()},
    }
