"""The coverage check from a policy file: open every system, take its
inventory, judge it (retention.coverage). The CLI calls it directly; the
nightly flow calls it first and publishes the findings (a warning, not a
stop)."""

from __future__ import annotations

from connectors.base import Connector
from connectors.media.folder import FolderConnector
from connectors.media.inventory import folder_prefixes, s3_prefixes
from connectors.s3.connector import S3Connector
from connectors.sql.connector import SqlConnector
from connectors.sql.inventory import SAMPLE_ROWS, inventory, sample
from retention.coverage.check import media_findings, report_of, sql_findings
from retention.coverage.findings import CoverageReport, Finding
from retention.logs import get_logger
from retention.policy import Policy, System
from tasks.setup import close_systems, load_checked_policy, open_systems

log = get_logger("retention.coverage")


def run_coverage(policy: str) -> CoverageReport:
    loaded = load_checked_policy(policy)
    connectors = open_systems(loaded, sorted(loaded.policy.systems))
    try:
        findings: list[Finding] = []
        for name, connector in connectors.items():
            findings += findings_of(name, loaded.policy.systems[name], connector, loaded.policy)
    finally:
        close_systems(connectors)
    report = report_of(loaded.policy, findings, SAMPLE_ROWS)
    # Counts only: the findings name columns, and the log is no place to list them.
    log.info(
        "coverage checked",
        findings=len(report.findings),
        failing=len(report.failing()),
        failing_strict=len(report.failing(strict=True)),
    )
    return report


def findings_of(
    name: str, system: System, connector: Connector, policy: Policy | None = None
) -> list[Finding]:
    if isinstance(connector, SqlConnector):
        engine = connector.engine
        tables = inventory(engine)
        return sql_findings(name, system, tables, lambda t, c: sample(engine, t, c), policy)
    if isinstance(connector, FolderConnector):
        return media_findings(name, system, folder_prefixes(connector.root))
    if isinstance(connector, S3Connector):
        return media_findings(name, system, s3_prefixes(connector.client, connector.bucket))
    raise TypeError(f"system {name!r}: no inventory for {type(connector).__name__}")
