"""What gets deployed: prefect.yaml names flows that exist, with parameters
those flows accept (each described in the run form) and schedules Prefect
reads as Helsinki time; the deploy step's automation listens for exactly the
sweep's pause. Nothing is deployed here (tests/test_prefect_server.py does,
on a real server); a typo here would otherwise surface only at 02:00."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint

from retention.policy_loader import load_policy

ROOT = Path(__file__).parent.parent
PREFECT_YAML = ROOT / "deployments/prefect.yaml"
HELSINKI = "Europe/Helsinki"


def prefect_yaml_deployments() -> list[dict[str, Any]]:
    deployments = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]
    assert deployments, "prefect.yaml deploys nothing"
    return list(deployments)


def imported_flow(entrypoint: str) -> Flow[Any, Any]:
    """`flows/nightly_sweep.py:retention_sweep` as the module's attribute."""
    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


@pytest.mark.parametrize("deployment", prefect_yaml_deployments(), ids=lambda d: d["name"])
def test_prefect_yaml_names_a_flow_that_accepts_its_parameters(deployment: dict[str, Any]) -> None:
    entrypoint = deployment["entrypoint"]
    flow = imported_flow(entrypoint)
    assert isinstance(flow, Flow), f"{entrypoint} is not a Prefect flow"
    # The worker loads it from the file path, relative to the project.
    path, _, name = entrypoint.partition(":")
    loaded: Flow[Any, Any] = load_flow_from_entrypoint(f"{ROOT / path}:{name}")
    assert loaded.name == flow.name
    parameters = deployment.get("parameters", {})
    assert set(parameters) <= set(flow.parameters.properties), parameters
    # A parameter the run's form (or the triggering event) fills, e.g. the
    # erasure request, is validated with an example of it.
    examples = {"request": {"request_id": "REQ-1", "email": ["anna@example.fi"]}}
    missing = set(flow.parameters.required or []) - set(parameters)
    assert missing <= set(examples), f"required parameters without a value: {missing}"
    flow.validate_parameters({**{k: examples[k] for k in missing}, **parameters})
    if "policy" in parameters:
        # The policy the deployment names exists and validates (secrets aside).
        load_policy(ROOT / parameters["policy"], resolve=lambda ref: "not-a-real-secret-value")


def test_prefect_yaml_schedules_run_on_helsinki_time() -> None:
    schedules = {d["name"]: d.get("schedules", []) for d in prefect_yaml_deployments()}
    assert schedules["nightly"] and schedules["verify-ledger"]
    for name, entries in schedules.items():
        for entry in entries:
            # Prefect's own model checks the cron expression and the zone name.
            cron = CronSchedule(cron=entry["cron"], timezone=entry["timezone"])
            assert cron.timezone == HELSINKI, name
    assert schedules["nightly"][0]["cron"] == "0 2 * * *"


def test_one_way_to_deploy_nothing_serves() -> None:
    # flow.serve() against deploy's deployments replaced their pull steps and
    # paused them on exit: the deploy step is the only way in.
    for path in (ROOT / "deployments").glob("*.py"):
        code = path.read_text()
        assert "serve(" not in code.replace("`flow.serve()`", ""), path


@pytest.mark.parametrize("deployment", prefect_yaml_deployments(), ids=lambda d: d["name"])
def test_every_parameter_of_a_deployment_is_described_in_its_form(
    deployment: dict[str, Any],
) -> None:
    flow = imported_flow(deployment["entrypoint"])
    for name, schema in flow.parameters.properties.items():
        assert schema.get("description", "").strip(), f"{flow.name}: {name} has no description"
    assert deployment.get("description", "").strip()


def test_on_demand_is_a_dry_run_and_says_so() -> None:
    on_demand = {d["name"]: d for d in prefect_yaml_deployments()}["on-demand"]
    assert on_demand["parameters"]["dry_run"] is True
    assert "dry run by default" in " ".join(on_demand["description"].split()).lower()


def test_the_deploy_step_automation_fires_on_the_sweeps_pause() -> None:
    from uuid import uuid4

    from prefect.events.actions import SendNotification

    from deployments import deploy
    from flows.nightly_sweep import retention_sweep

    block = uuid4()
    automation = deploy.paused_automation(block)
    trigger = automation.trigger
    assert trigger.expect == {"prefect.flow-run.Paused"}
    assert trigger.match_related.model_dump() == {
        "prefect.resource.role": "flow",
        "prefect.resource.name": retention_sweep.name,
    }
    [action] = automation.actions
    assert isinstance(action, SendNotification) and action.block_document_id == block
    assert "{{ flow_run|ui_url }}" in action.body


def test_the_sweep_parameter_schema_offers_what_an_operator_sets() -> None:
    from flows.nightly_sweep import retention_sweep

    properties = retention_sweep.parameters.properties
    assert {"policy", "dry_run", "as_of", "approved_by"} <= set(properties)
    assert properties["dry_run"]["type"] == "boolean"
    as_of_formats = {t.get("format") for t in properties["as_of"]["anyOf"]}
    assert "date-time" in as_of_formats
    # A nightly run must not skip approval unless someone changes it on purpose.
    assert properties["ask_approval"]["default"] is True
    assert properties["dry_run"]["default"] is False
