"""The event path to erasure: an automation that runs the erasure-request
deployment whenever the event `retention.erasure.requested` arrives, with
the request from the event's payload. Any system that can reach the Prefect
API can then ask for an erasure:

    from prefect.events import emit_event
    emit_event(
        event="retention.erasure.requested",
        resource={"prefect.resource.id": "retention.erasure-request.REQ-2026-117"},
        payload={"request": {"request_id": "REQ-2026-117",
                             "email": ["anna.virtanen@example.fi"],
                             "requested_by": "register contact"}},
    )

The deployment validates the request (its parameter is the typed
ErasureRequest): a malformed one is refused and changes nothing.
"""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

EVENT = "retention.erasure.requested"
AUTOMATION = "retention: erasure requested"
DEPLOYMENT = "erasure-request/erasure-request"


def ensure_erasure_automation(client: Any, deployment_id: UUID) -> UUID:
    """Create (or replace) the automation; its id."""
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    for existing in client.read_automations_by_name(AUTOMATION):
        with contextlib.suppress(Exception):
            client.delete_automation(existing.id)
    automation = AutomationCore(
        name=AUTOMATION,
        description=f"Runs {DEPLOYMENT} with the request in the event's payload.",
        trigger=EventTrigger(
            expect={EVENT},
            match={"prefect.resource.id": "retention.erasure-request.*"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                # One expression: Prefect renders it as JSON, so the request
                # arrives as an object the deployment's schema validates.
                parameters={"request": "{{ event.payload.request }}"},
                job_variables=None,
            )
        ],
    )
    created: UUID = client.create_automation(automation)
    return created
