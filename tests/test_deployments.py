"""What gets deployed: prefect.yaml and serve.py name flows that exist, with
parameters those flows accept and schedules Prefect reads as Helsinki time.
Nothing is deployed or served; a typo here would otherwise surface only on
the server, at 02:00."""

from __future__ import annotations

import ast
import importlib
import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import load_flow_from_entrypoint

from retention.policy_loader import load_policy

ROOT = Path(__file__).parent.parent
PREFECT_YAML = ROOT / "deployments/prefect.yaml"
SERVE_PY = ROOT / "deployments/serve.py"
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


def served_deployments() -> list[RunnerDeployment]:
    """The deployments serve.py builds, built by its own to_deployment calls.

    Running the script would start serving (it blocks), so the module is run
    under another name (imports only) and each to_deployment(...) call
    written in it is evaluated in that namespace: the file's own code,
    without serve()."""
    namespace = runpy.run_path(str(SERVE_PY), run_name="serve_under_test")
    calls = [
        node
        for node in ast.walk(ast.parse(SERVE_PY.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "to_deployment"
    ]
    return [eval(compile(ast.Expression(call), str(SERVE_PY), "eval"), namespace) for call in calls]


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
    flow.validate_parameters(parameters)  # raises on a value of the wrong type
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


def test_serve_builds_its_deployments_with_helsinki_cron_schedules() -> None:
    built = {d.name: d for d in served_deployments()}
    assert set(built) == {"nightly", "on-demand", "verify-ledger"}
    for deployment in built.values():
        assert isinstance(deployment, RunnerDeployment)
        assert isinstance(imported_flow(deployment.entrypoint or ""), Flow)
    for name in ("nightly", "verify-ledger"):
        schedules = [s.schedule for s in built[name].schedules or []]
        assert len(schedules) == 1 and isinstance(schedules[0], CronSchedule), name
        assert schedules[0].timezone == HELSINKI, name
    assert built["nightly"].parameters["ask_approval"] is True
    # On demand is a dry run unless the operator says otherwise.
    assert built["on-demand"].parameters["dry_run"] is True and not built["on-demand"].schedules


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
