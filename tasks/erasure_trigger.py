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

The run forgets the request's identities (flows/erasure_request.py), but
the event stays in Prefect's events table, and so does the automation's
`prefect.automation.triggered` event, which embeds the event that fired it.
Prefect's API cannot delete an event; its database vacuum deletes events
past their retention, which can be set per event type. So the Prefect
server is run with `event_retention_overrides()` (deployments/local.py for
`make serve`; README for a production server).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from uuid import UUID

EVENT = "retention.erasure.requested"
AUTOMATION = "retention: erasure requested"
DEPLOYMENT = "erasure-request/erasure-request"

# The event types whose payload holds the request, and how long Prefect may
# keep them: the vacuum runs hourly, so one is gone within two hours (the
# default for every event is seven days).
EVENTS_WITH_THE_REQUEST = (EVENT, "prefect.automation.triggered")
EVENT_RETENTION_S = 3600
EVENT_RETENTION_SETTING = "PREFECT_SERVER_SERVICES_DB_VACUUM_EVENT_RETENTION_OVERRIDES"


def event_retention_overrides(seconds: int = EVENT_RETENTION_S) -> str:
    """The Prefect server's value of EVENT_RETENTION_SETTING (JSON, seconds).
    The setting replaces Prefect's default mapping, so its defaults (the
    heartbeat events' retention) are carried over."""
    from prefect.settings.models.server.services import ServerServicesDBVacuumSettings

    default = ServerServicesDBVacuumSettings.model_fields["event_retention_overrides"].default
    overrides = {kind: int(period.total_seconds()) for kind, period in default.items()}
    overrides.update({kind: seconds for kind in EVENTS_WITH_THE_REQUEST})
    return json.dumps(overrides, sort_keys=True)


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
