"""Overwrite a flow run's stored parameters.

Prefect keeps a run's parameters in its database for as long as it keeps
the run. A flow whose parameters name a person (an erasure or an access
request) replaces them with a copy that names nobody once it has them in
memory, and again from its end hooks (a run refused by parameter validation
never reaches its body). The server replaces the parameters whole on this
PATCH; it does not merge them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client


def replace_stored_parameters(flow_run_id: UUID, parameters: Mapping[str, Any]) -> None:
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run_id, parameters=dict(parameters))
