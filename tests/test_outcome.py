"""The run summary an operator reads: every count is in the totals."""

from __future__ import annotations

from retention.pipeline.outcome import RuleOutcome, RunSummary, render_table


def test_totals_and_the_table_add_up_every_column():
    summary = RunSummary(
        "run-1",
        "policy",
        "ab" * 32,
        False,
        [
            RuleOutcome("a", "crm.x", "delete", due=5, deleted=3, skipped=2, cascaded=4),
            RuleOutcome("b", "crm.y", "anonymise", due=2, anonymised=1, held=1, held_anonymised=1),
            RuleOutcome("c", "media.p", "delete", due=3, deleted=1, locked=1, failed=1, undated=4),
        ],
    )
    totals = summary.totals()
    assert totals == {
        "due": 10,
        "deleted": 4,
        "anonymised": 2,
        "cascaded": 4,
        "kept_by_hold": 1,
        "kept_by_lock": 1,
        "undated": 4,
        "skipped": 2,
        "failed": 1,
    }
    assert not summary.ok
    table = render_table(summary)
    total_line = next(line for line in table.splitlines() if line.startswith("TOTAL")).split()
    assert total_line == ["TOTAL", "10", "4", "2", "4", "1", "1", "4", "2", "1"]
    assert summary.status == "failed" and "1 rule(s) failed: c" in summary.reason()
    assert "(FAILED)" in table.splitlines()[0], "a failed run is never titled 'applied'"
