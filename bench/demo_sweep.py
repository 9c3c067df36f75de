"""Benchmark: the whole nightly run on the demo, without and with Prefect.

    .venv/bin/python bench/demo_sweep.py --scales 10,100

For each scale, twice on a freshly built demo (`retention demo --fresh
--scale N` builds the same systems): once by the CLI's path without Prefect
(tasks.sweep.run_sweep, what `retention sweep` runs when no Prefect API is
set) and once as the Prefect flow (flows.nightly_sweep.retention_sweep, on
Prefect's ephemeral API, started first by an empty flow and timed apart: a
deployed run talks to a server that is already up). Each run is a fresh process, so imports
count for both alike. Every rule of the id-north policy runs, approved in
advance (a demo's plans exceed the limits). Reports wall time, rows changed
per second, and Prefect's share: the difference between the two runs, per
rule; a fixed cost per rule stays the same across scales. Progress goes to
stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AS_OF = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
POLICY = str(ROOT / "deployments/id-north/policy.yaml")


def progress(message: str) -> None:
    print(f"[demo_sweep] {message}", file=sys.stderr, flush=True)


def one_run(mode: str, root: Path) -> dict[str, Any]:
    """In this process: build the demo in `root`, then run the sweep once."""
    from retention.demo.build import build_demo, demo_env
    from retention.logs import configure

    configure(level="WARNING")
    build_demo(root, scale=int(os.environ["BENCH_SCALE"]), as_of=AS_OF)
    os.environ.update(demo_env(root))
    os.environ["RETENTION_LEDGER_URL"] = f"sqlite:///{root / 'ledger.db'}"
    os.environ["PREFECT_HOME"] = str(root / ".prefect")
    os.environ.pop("PREFECT_API_URL", None)
    # On a busy machine the ephemeral API takes longer than its 20 s default to start.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    options: dict[str, Any] = dict(as_of=AS_OF, approved_by="bench-operator")
    started = time.perf_counter()
    if mode == "cli":
        from tasks.sweep import run_sweep

        summary = run_sweep(POLICY, trigger="cli", **options)
        startup = 0.0
    else:
        from prefect import flow

        from flows.nightly_sweep import retention_sweep

        @flow(name="bench-warm-up")
        def warm_up() -> None:
            """Starts the ephemeral API: a cost per process, not per run."""

        warm_up()
        startup = time.perf_counter() - started
        started = time.perf_counter()
        summary = retention_sweep(policy=POLICY, ask_approval=False, **options)
    seconds = time.perf_counter() - started
    outcomes = summary.outcomes  # type: ignore[union-attr]
    changed = sum(o.deleted + o.anonymised + o.cascaded + o.held_anonymised for o in outcomes)
    return {
        "seconds": seconds,
        "startup_seconds": startup,
        "rows_changed": changed,
        "rules": len(outcomes),
        "status": summary.status,  # type: ignore[union-attr]
        "per_rule_seconds": {o.rule_id: o.seconds for o in outcomes},
    }


def in_subprocess(mode: str, scale: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as folder:
        env = {**os.environ, "BENCH_SCALE": str(scale)}
        command = [sys.executable, __file__, "--one", mode, "--root", folder]
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, env=env)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="100", help="comma-separated demo scales")
    parser.add_argument("--one", choices=("cli", "prefect"), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one, Path(args.root))))
        return
    figures: dict[str, Any] = {}
    for scale in [int(s) for s in args.scales.split(",")]:
        cli = in_subprocess("cli", scale)
        progress(f"scale {scale}, no Prefect: {cli['rows_changed']} rows in {cli['seconds']:.1f} s")
        flow = in_subprocess("prefect", scale)
        progress(f"scale {scale}, Prefect flow: {flow['seconds']:.1f} s")
        if cli["rows_changed"] != flow["rows_changed"]:
            raise SystemExit(f"the runs changed different rows: {cli} {flow}")
        overhead = flow["seconds"] - cli["seconds"]
        figures[f"scale_{scale}"] = {
            "rules": cli["rules"],
            "rows_changed": cli["rows_changed"],
            "status": [cli["status"], flow["status"]],
            "cli_seconds": round(cli["seconds"], 2),
            "prefect_seconds": round(flow["seconds"], 2),
            "cli_rows_per_s": round(cli["rows_changed"] / cli["seconds"], 1),
            "prefect_rows_per_s": round(flow["rows_changed"] / flow["seconds"], 1),
            "prefect_api_startup_seconds": round(flow["startup_seconds"], 2),
            "prefect_overhead_seconds": round(overhead, 2),
            "prefect_overhead_per_rule_seconds": round(overhead / max(cli["rules"], 1), 3),
            "prefect_share": round(overhead / flow["seconds"], 3),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
