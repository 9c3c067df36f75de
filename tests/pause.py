"""`python -m tests.pause SPEC retention-args...`: the real `retention`
command with one test-only pause point or marker. SPEC is one of:

- `RULE:BATCH:FILE`: right after batch BATCH of rule RULE has committed in
  its database, and before the pipeline writes that batch's completion to
  the ledger, the process writes FILE and sleeps until it is killed: a
  SIGKILL then lands exactly in the window between a commit and its evidence;
- `RULE:BATCH:FILE@SECONDS`: the same, but it goes on after that long;
- `RULE:BATCH:FILE@RELEASE`: the same, but it goes on once the file RELEASE
  exists (or after 300 s): a run that certainly holds the lease, mid-batch,
  until the test has seen another run meet it;
- `busy:FILE`: no pause; the process appends a line to FILE each time it
  finds the applying lease held by another run, then goes on as it would
  (waits, or exits 4).

The pause is put in from here, by wrapping the SQL connector's apply (or
the lease's attempt), so the code under test is not changed for it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from connectors.sql.connector import SqlConnector
from flows.cli import main
from retention.ledger import lease

RELEASE_AFTER_S = 300.0


def install(
    rule_id: str, batch: int, marker: Path, seconds: float | None = None,
    release: Path | None = None,
) -> None:  # fmt: skip
    """Pause for good, or (with `seconds`) for that long and then go on, or
    (with `release`) until that file exists: a run that is certainly still
    applying while a test starts another."""
    real = SqlConnector.apply
    calls = {"n": 0}

    def apply(self: SqlConnector, *args: Any, **kwargs: Any) -> Any:
        result = real(self, *args, **kwargs)
        rule = kwargs.get("rule")
        if rule is not None and rule.id == rule_id and result.done:
            calls["n"] += 1
            if calls["n"] == batch:
                marker.write_text(f"{rule_id} batch {batch} committed\n")
                if release is not None:
                    deadline = time.monotonic() + RELEASE_AFTER_S
                    while not release.exists() and time.monotonic() < deadline:
                        time.sleep(0.05)
                    return result
                if seconds is not None:
                    time.sleep(seconds)
                    return result
                while True:
                    time.sleep(60)
        return result

    SqlConnector.apply = apply  # type: ignore[method-assign]


def mark_busy(marker: Path) -> None:
    """Append to `marker` each time the lease is found held by another run."""
    real = lease.try_acquire

    def try_acquire(*args: Any, **kwargs: Any) -> lease.Taken | str:
        got = real(*args, **kwargs)
        if isinstance(got, str):
            with marker.open("a") as out:
                out.write(f"lease busy: {got}\n")
        return got

    lease.try_acquire = try_acquire  # type: ignore[assignment]


if __name__ == "__main__":
    if sys.argv[1].startswith("busy:"):
        mark_busy(Path(sys.argv[1].removeprefix("busy:")))
    else:
        rule_id, batch, rest = sys.argv[1].split(":", 2)
        marker, _, after = rest.partition("@")  # FILE, FILE@SECONDS or FILE@RELEASE
        try:
            seconds, release = (float(after) if after else None), None
        except ValueError:
            seconds, release = None, Path(after)
        install(rule_id, int(batch), Path(marker), seconds, release)
    sys.exit(main(sys.argv[2:]))
