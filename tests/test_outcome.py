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
            RuleOutcome("c", "media.p", "delete", due=3, deleted=1, locked=1, failed=1),
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
        "skipped": 2,
        "failed": 1,
    }
    assert not summary.ok
    total_line = render_table(summary).splitlines()[-1].split()
    assert total_line == ["TOTAL", "10", "4", "2", "4", "1", "1", "2", "1"]
