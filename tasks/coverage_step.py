"""The nightly sweep's first step: the coverage check, published as an
artifact. A warning, not a stop: a column the policy misses is kept, not
deleted, so the sweep that follows is still right about everything it
declares; the operator learns of the gap the same morning."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import exc as sa_errors

from retention.coverage.findings import CoverageReport
from retention.errors import RetentionError
from tasks.coverage import run_coverage

COVERAGE_KEY = "retention-coverage"


def coverage_check(policy: str) -> CoverageReport | None:
    """The check as a task; its findings published from the flow run itself
    (as every artifact of a sweep is), so the artifact names its flow run."""
    report = coverage_task(policy)
    if report is None:
        return None
    failing = report.failing()
    create_markdown_artifact(
        key=COVERAGE_KEY,
        markdown=coverage_markdown(report),
        description=(
            f"Coverage: {len(failing)} unreviewed personal-looking item(s) no dataset declares"
            if failing
            else "Coverage: nothing personal-looking is missing from the policy"
        ),
    )
    if failing:
        get_run_logger().warning(
            "coverage: %d personal-looking item(s) no dataset declares (artifact %s): %s",
            len(failing),
            COVERAGE_KEY,
            ", ".join(f.where for f in failing),
        )
    return report


@task(name="coverage-check")
def coverage_task(policy: str) -> CoverageReport | None:
    try:
        return run_coverage(policy)
    except (RetentionError, sa_errors.SQLAlchemyError, OSError) as exc:
        # The sweep opens the same systems next and reports their failure itself.
        get_run_logger().warning("coverage check could not run: %s", str(exc).splitlines()[0])
        return None


def coverage_markdown(report: CoverageReport) -> str:
    lines = [
        f"### Coverage of policy {report.policy_name}",
        "",
        f"Systems: {', '.join(report.systems)}. Values sampled: at most "
        f"{report.sample_rows} per column; none is shown.",
        "",
    ]
    if not report.findings:
        return "\n".join([*lines, "Every table, column and prefix is declared by a dataset."])
    lines += ["| status | where | kind | looks personal | reviewed |", "|---|---|---|---|---|"]
    failing = report.failing()
    strict = report.failing(strict=True)
    for f in report.findings:
        status = "FAIL" if f in failing else "drift" if f in strict else "reviewed"
        personal = ", ".join(f.personal) or "-"
        lines.append(f"| {status} | {f.where} | {f.place} | {personal} | {f.reviewed or '-'} |")
    lines += [
        "",
        "FAIL: declare it in a dataset with a rule that ends it, or review it in the "
        "system's `reviewed:` list with the reason. drift: not personal-looking, but "
        "undeclared (`retention coverage --strict` fails on it).",
    ]
    return "\n".join(lines)
