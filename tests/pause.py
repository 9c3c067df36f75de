"""`python -m tests.pause RULE:BATCH:FILE retention-args...`: the real
`retention` command with one test-only pause point.

Right after batch BATCH of rule RULE has committed in its database, and
before the pipeline writes that batch's completion to the ledger, the
process writes FILE and sleeps until it is killed: a SIGKILL then lands
exactly in the window between a commit and its evidence. The pause is put
in from here, by wrapping the SQL connector's apply, so the code under test
is not changed for it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from connectors.sql.connector import SqlConnector
from flows.cli import main


def install(rule_id: str, batch: int, marker: Path, seconds: float | None = None) -> None:
    """Pause for good, or (with `seconds`) for that long and then go on: a
    run that is certainly still applying while a test starts another."""
    real = SqlConnector.apply
    calls = {"n": 0}

    def apply(self: SqlConnector, *args: Any, **kwargs: Any) -> Any:
        result = real(self, *args, **kwargs)
        rule = kwargs.get("rule")
        if rule is not None and rule.id == rule_id and result.done:
            calls["n"] += 1
            if calls["n"] == batch:
                marker.write_text(f"{rule_id} batch {batch} committed\n")
                if seconds is not None:
                    time.sleep(seconds)
                    return result
                while True:
                    time.sleep(60)
        return result

    SqlConnector.apply = apply  # type: ignore[method-assign]


if __name__ == "__main__":
    rule_id, batch, rest = sys.argv[1].split(":", 2)
    marker, _, seconds = rest.partition("@")  # FILE, or FILE@SECONDS
    install(rule_id, int(batch), Path(marker), float(seconds) if seconds else None)
    sys.exit(main(sys.argv[2:]))
