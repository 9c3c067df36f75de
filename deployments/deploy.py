"""The deploy step: the one way this project is deployed to a Prefect server.

    RETENTION_HOME=$PWD .venv/bin/python deployments/deploy.py [--notify-block NAME]

1. the process work pool `retention` (created if missing);
2. every deployment in deployments/prefect.yaml (`prefect deploy --all`);
3. the automation "retention: erasure requested", which runs the
   erasure-request deployment on the event retention.erasure.requested
   (tasks/erasure_trigger.py);
4. the automation "retention: a run waits for approval": when a
   retention-sweep run pauses, it sends a message through the notification
   block the operator configured (Slack, Teams, email, a webhook...), named by
   --notify-block or RETENTION_NOTIFY_BLOCK (default `retention-operators`).
   Without that block the automation is not made, and this says so.

Run it again after changing prefect.yaml: deployments and the automation are
updated in place, nothing is paused. (`flow.serve()` is not used: against
these deployments it would replace their pull steps and pause them on exit.)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from tasks.erasure_trigger import AUTOMATION as ERASURE_AUTOMATION
from tasks.erasure_trigger import DEPLOYMENT as ERASURE_DEPLOYMENT
from tasks.erasure_trigger import EVENT as ERASURE_EVENT
from tasks.erasure_trigger import ensure_erasure_automation

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = "deployments/prefect.yaml"
POOL = "retention"
FLOW = "retention-sweep"
AUTOMATION = "retention: a run waits for approval"
NOTIFY_BLOCK_ENV = "RETENTION_NOTIFY_BLOCK"
DEFAULT_NOTIFY_BLOCK = "retention-operators"

SUBJECT = "Retention run {{ flow_run.name }} waits for your approval"
BODY = """\
Retention sweep {{ flow_run.name }} ({{ deployment.name }}) is paused: its plan \
is over the policy's limits and nothing over them changes until an operator answers.
Open {{ flow_run|ui_url }} (flow run {{ flow_run.id }}), read the plan \
(artifact retention-plan), then Resume with your decision and name. Without an \
answer the run skips those rules when its pause times out."""


@dataclass(frozen=True)
class Deployed:
    pool: str
    automation_id: UUID | None
    notify_block: str


def prefect_command() -> str:
    """The `prefect` of this interpreter's environment, whatever PATH says."""
    beside = Path(sys.executable).with_name("prefect")
    return str(beside) if beside.exists() else "prefect"


def ensure_work_pool(client: Any, name: str = POOL) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=name, type="process"))


def deploy_all(env: dict[str, str] | None = None) -> None:
    """`prefect deploy --all` from the project folder; RETENTION_HOME (where
    the worker finds the code) defaults to this project."""
    environment = {**os.environ, **(env or {})}
    environment.setdefault("RETENTION_HOME", str(ROOT))
    done = subprocess.run(
        [prefect_command(), "--no-prompt", "deploy", "--all", "--prefect-file", PREFECT_YAML],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        raise SystemExit(f"prefect deploy failed (exit {done.returncode})")
    # Prefect's own output is a page of boxes per deployment: one line each.
    for line in done.stdout.splitlines():
        if "successfully" in line or "Deployment '" in line:
            print(" ".join(line.strip("│ ").split()).removesuffix(" with id"))


def find_block(client: Any, name: str) -> UUID | None:
    """A block document by `type-slug/name`, or by name alone of any type."""
    slug, _, bare = name.rpartition("/")
    for document in client.read_block_documents():
        if document.name != bare or document.is_anonymous:
            continue
        if slug and document.block_type is not None and document.block_type.slug != slug:
            continue
        return UUID(str(document.id))
    return None


def paused_automation(block_id: UUID) -> Any:
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    return AutomationCore(
        name=AUTOMATION,
        description=(
            "Tells the operators when a retention sweep pauses for approval "
            "(made by deployments/deploy.py)."
        ),
        trigger=EventTrigger(
            expect={"prefect.flow-run.Paused"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": FLOW},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_id, subject=SUBJECT, body=BODY)],
    )


def ensure_automation(client: Any, block_id: UUID) -> UUID:
    """Exactly one automation of this name, as defined here."""
    for old in client.read_automations_by_name(AUTOMATION):
        client.delete_automation(old.id)
    return UUID(str(client.create_automation(paused_automation(block_id))))


def deploy(notify_block: str | None = None, env: dict[str, str] | None = None) -> Deployed:
    from prefect.client.orchestration import get_client

    block = notify_block or os.environ.get(NOTIFY_BLOCK_ENV) or DEFAULT_NOTIFY_BLOCK
    with get_client(sync_client=True) as client:
        ensure_work_pool(client)
    deploy_all(env)
    with get_client(sync_client=True) as client:
        block_id = find_block(client, block)
        automation = ensure_automation(client, block_id) if block_id else None
        erasure = client.read_deployment_by_name(ERASURE_DEPLOYMENT)
        ensure_erasure_automation(client, erasure.id)
        print(f"automation {ERASURE_AUTOMATION!r} runs {ERASURE_DEPLOYMENT} on {ERASURE_EVENT}")
    if automation is None:
        print(
            f"warning: no notification block {block!r}: nobody will hear that a run waits "
            "for approval.\n  Create one (UI: Blocks > + > Slack Webhook, Microsoft Teams "
            f"Webhook, Email, Custom Webhook...) named {block!r}, then run this again.",
            file=sys.stderr,
        )
    else:
        print(f"automation {AUTOMATION!r} notifies through block {block!r}")
    return Deployed(POOL, automation, block)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--notify-block",
        help=f"notification block for paused runs (default ${NOTIFY_BLOCK_ENV} "
        f"or {DEFAULT_NOTIFY_BLOCK})",
    )
    args = parser.parse_args(argv)
    deploy(args.notify_block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
