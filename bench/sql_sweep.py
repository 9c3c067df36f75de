"""Benchmark: a retention sweep through the SQL connector against bare DELETEs.

    .venv/bin/python bench/sql_sweep.py --rows 100000 --due-share 0.1

Builds, in PostgreSQL (TEST_POSTGRES_URL), a CRM-shaped `contacts` table of
N rows with about two children each (`consents`, with a real foreign key the
connector reflects, and `newsletter_reactions`, linked only in the policy),
set-based with generate_series. A known share of contacts is due. Measures:
(a) the sweep through the pipeline core: plan the rule, then apply it in
    batches with a ledger intent and completion per batch (the evidence:
    keyed hashes of every removed key, hash-chained, in PostgreSQL);
(b) the same rows removed by bare DELETE ... WHERE (children, then parents)
    on an identical copy;
(c) their ratio;
(d) peak RSS of the sweep at N and N/10, each in a fresh subprocess;
(e) with --workers W (W > 1): the same sweep on a third copy with the rule's
    keys split into W key ranges (tasks.parallel.split) applied at once by a
    local Dask cluster of W worker processes, each range with its own
    connections, every batch with its intent and completion in the one
    ledger; its speed-up over (a). The cluster's start is not timed, nor is
    Prefect's per-task overhead (a flow submits the same ranges as tasks).
Each schema is dropped at the end. Progress goes to stderr; the last line
of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from connectors.sql import open_sql_connector  # noqa: E402
from retention.ledger import Ledger  # noqa: E402
from retention.logs import configure  # noqa: E402
from retention.pipeline.apply import RunContext, apply_plan  # noqa: E402
from retention.pipeline.plan import plan_rule  # noqa: E402
from retention.policy import Policy  # noqa: E402

URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 6, 1, tzinfo=UTC)
HASH_KEY = b"bench-key-" * 4

POLICY: dict[str, Any] = {
    "version": 1,
    "name": "bench",
    "controller": "ID North Oy",
    "settings": {"timezone": "UTC"},
    "systems": {
        "crm": {
            "kind": "sql",
            "connection": {"env": "CRM_URL"},
            "datasets": {
                "contacts": {
                    "table": "contacts",
                    "identity_fields": {"email": "email"},
                    "columns": ["status", "last_activity"],
                    "relations": [{"child": "newsletter_reactions", "column": "contact_id"}],
                },
                "newsletter_reactions": {"table": "newsletter_reactions"},
                "consents": {"table": "consents"},  # reached by its real foreign key
            },
        }
    },
    "rules": [
        {
            "id": "inactive-contacts",
            "clause": "erase when the cooperation has ended",
            "why": "no ground for processing remains",
            "dataset": "crm.contacts",
            "due": {
                "clock": "last_activity",
                "after": "P3Y",
                "where": [{"column": "status", "op": "ne", "value": "active"}],
            },
            "action": {"kind": "delete"},
        }
    ],
}

DUE = "last_activity < TIMESTAMP '2023-06-01' AND status <> 'active'"


def progress(message: str) -> None:
    print(f"[sql_sweep] {message}", file=sys.stderr, flush=True)


def schema_url(schema: str) -> str:
    url = sa.make_url(URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def fresh_schema(label: str) -> Iterator[str]:
    admin = sa.create_engine(URL, isolation_level="AUTOCOMMIT")
    schema = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def build(schema: str, rows: int, due_share: float) -> None:
    """N contacts, a `due_share` of them due (spread over the key range), ~2 children each."""
    per_mille = round(due_share * 1000)
    statements = [
        """CREATE TABLE contacts (id bigint PRIMARY KEY, email text, phone text,
           full_name text, company text, status text, last_activity timestamp)""",
        f"""INSERT INTO contacts
            SELECT g, 'person' || g || '@example.fi', '+358 40 ' || g, 'Person ' || g,
                   'Company ' || (g % 997),
                   CASE WHEN (g * 7919) % 1000 < {per_mille} THEN 'ended' ELSE 'active' END,
                   CASE WHEN (g * 7919) % 1000 < {per_mille}
                        THEN TIMESTAMP '2019-01-01' + (g % 365) * INTERVAL '1 day'
                        ELSE TIMESTAMP '2025-01-01' + (g % 365) * INTERVAL '1 day' END
            FROM generate_series(1::bigint, {rows}) AS g""",
        """CREATE TABLE consents (id bigserial PRIMARY KEY,
           contact_id bigint NOT NULL REFERENCES contacts(id), kind text, given_at timestamp)""",
        """INSERT INTO consents (contact_id, kind, given_at)
           SELECT c.id, 'newsletter', c.last_activity FROM contacts c""",
        """CREATE TABLE newsletter_reactions (id bigserial PRIMARY KEY, contact_id bigint,
           campaign text, reacted_at timestamp)""",
        """INSERT INTO newsletter_reactions (contact_id, campaign, reacted_at)
           SELECT c.id, 'campaign-' || (c.id % 50), c.last_activity FROM contacts c
           WHERE c.id % 2 = 0
           UNION ALL
           SELECT c.id, 'campaign-x', c.last_activity FROM contacts c""",
        "CREATE INDEX ON consents (contact_id)",
        "CREATE INDEX ON newsletter_reactions (contact_id)",
        "ANALYZE",
    ]
    engine = sa.create_engine(schema_url(schema))
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


def counts(schema: str) -> dict[str, int]:
    engine = sa.create_engine(schema_url(schema))
    with engine.connect() as conn:
        found = {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("contacts", "consents", "newsletter_reactions")
        }
    engine.dispose()
    return found


def sweep(schema: str, batch_size: int) -> tuple[int, float]:
    """(rows removed, seconds) of the real pipeline core: plan the rule (every
    due key), then apply it in batches, each between a ledger intent and a
    completion (HMAC of every done and cascaded key) in a PostgreSQL ledger.
    Prefect's per-run overhead (about a second) is not included."""
    policy = Policy.model_validate(POLICY)
    rule = policy.rules[0]
    connector = open_sql_connector(
        "crm",
        policy.systems["crm"],
        schema_url(schema),
        hash_key=HASH_KEY,
        batch_size=batch_size,
        policy=policy,
    )
    connector.check()
    ledger = Ledger.open(schema_url(schema), keys={"k1": HASH_KEY}, current_key_id="k1")
    ctx = RunContext("bench-run", "0" * 64, "bench", NOW, batch_size)
    started = time.perf_counter()
    ledger.begin_run(
        run_id=ctx.run_id,
        policy_hash=ctx.policy_hash,
        policy_name="bench",
        trigger="manual",
        dry_run=False,
    )
    plan = plan_rule(rule, policy, {"crm": connector}, now=NOW)
    outcome = apply_plan(plan, rule, {"crm": connector}, ledger, ctx)
    ledger.end_run(run_id=ctx.run_id, summary={"deleted": outcome.deleted})
    seconds = time.perf_counter() - started
    ledger.close()
    connector.close()
    return outcome.deleted + outcome.cascaded, seconds


def _apply_range(schema: str, part: Any, batch_size: int) -> Any:
    """One key range, in a Dask worker: its own connector and ledger."""
    configure(level="WARNING")
    policy = Policy.model_validate(POLICY)
    connector = open_sql_connector(
        "crm",
        policy.systems["crm"],
        schema_url(schema),
        hash_key=HASH_KEY,
        batch_size=batch_size,
        policy=policy,
    )
    connector.check()
    ledger = Ledger.open(schema_url(schema), keys={"k1": HASH_KEY}, current_key_id="k1")
    ctx = RunContext("bench-run", "0" * 64, "bench", NOW, batch_size)
    try:
        return apply_plan(part, policy.rules[0], {"crm": connector}, ledger, ctx)
    finally:
        ledger.close()
        connector.close()


def _warm() -> None:
    import connectors.sql  # noqa: F401
    import retention.ledger  # noqa: F401
    import retention.pipeline.apply  # noqa: F401

    configure(level="WARNING")


def sweep_in_ranges(schema: str, batch_size: int, workers: int) -> tuple[int, float]:
    """(rows removed, seconds) of (a) with the apply split into key ranges
    run at once on a local Dask cluster of `workers` processes."""
    from distributed import Client, LocalCluster

    from tasks.parallel import merge, split

    policy = Policy.model_validate(POLICY)
    rule = policy.rules[0]
    connector = open_sql_connector(
        "crm",
        policy.systems["crm"],
        schema_url(schema),
        hash_key=HASH_KEY,
        batch_size=batch_size,
        policy=policy,
    )
    connector.check()
    ledger = Ledger.open(schema_url(schema), keys={"k1": HASH_KEY}, current_key_id="k1")
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # Imports happen once per worker process, not per range: not timed.
        client.run(_warm)
        started = time.perf_counter()
        ledger.begin_run(
            run_id="bench-run",
            policy_hash="0" * 64,
            policy_name="bench",
            trigger="manual",
            dry_run=False,
        )
        plan = plan_rule(rule, policy, {"crm": connector}, now=NOW)
        parts = split(plan, workers, batch_size)
        futures = [client.submit(_apply_range, schema, p, batch_size, pure=False) for p in parts]
        outcome = merge(plan, client.gather(futures))
        ledger.end_run(run_id="bench-run", summary={"deleted": outcome.deleted})
        seconds = time.perf_counter() - started
    ok = ledger.verify().ok and not ledger.unfinished_intents()
    ledger.close()
    connector.close()
    if not ok or outcome.failed:
        raise SystemExit(f"the ranged sweep's ledger does not verify or it failed: {outcome}")
    return outcome.deleted + outcome.cascaded, seconds


def bare_delete(schema: str) -> tuple[int, float]:
    engine = sa.create_engine(schema_url(schema))
    removed = 0
    started = time.perf_counter()
    with engine.begin() as conn:
        for child in ("consents", "newsletter_reactions"):
            statement = (
                f"DELETE FROM {child} WHERE contact_id IN (SELECT id FROM contacts WHERE {DUE})"
            )
            removed += conn.execute(sa.text(statement)).rowcount
        removed += conn.execute(sa.text(f"DELETE FROM contacts WHERE {DUE}")).rowcount
    seconds = time.perf_counter() - started
    engine.dispose()
    return removed, seconds


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_rss_in_subprocess(rows: int, due_share: float, batch_size: int) -> float:
    command = [
        sys.executable,
        __file__,
        "--rows",
        str(rows),
        "--due-share",
        str(due_share),
        "--batch-size",
        str(batch_size),
        "--rss-only",
    ]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--due-share", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--workers", type=int, default=1, help="also sweep in key ranges on W Dask workers"
    )
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS runs")
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure(level="WARNING")  # per-batch progress would dominate the timing

    if args.rss_only:
        with fresh_schema("rss") as schema:
            build(schema, args.rows, args.due_share)
            removed, _ = sweep(schema, args.batch_size)
        print(
            json.dumps({"rows": args.rows, "rows_removed": removed, "peak_rss_mb": peak_rss_mb()})
        )
        return

    with fresh_schema("sweep") as swept, fresh_schema("bare") as bare:
        progress(f"building two copies of {args.rows} contacts")
        build(swept, args.rows, args.due_share)
        build(bare, args.rows, args.due_share)
        before = counts(swept)
        progress(f"built: {before}")
        removed, sweep_s = sweep(swept, args.batch_size)
        progress(f"sweep: {removed} rows in {sweep_s:.2f} s")
        bare_removed, bare_s = bare_delete(bare)
        progress(f"bare DELETE: {bare_removed} rows in {bare_s:.2f} s")
        after = counts(swept)
        same = after == counts(bare) and removed == bare_removed
    ranged: dict[str, Any] = {}
    if args.workers > 1:
        with fresh_schema("ranges") as schema:
            progress(f"building a third copy for {args.workers} Dask workers")
            build(schema, args.rows, args.due_share)
            ranged_removed, ranged_s = sweep_in_ranges(schema, args.batch_size, args.workers)
            progress(f"in {args.workers} key ranges: {ranged_removed} rows in {ranged_s:.2f} s")
            same = same and counts(schema) == after and ranged_removed == removed
        ranged = {
            "workers": args.workers,
            "ranged_sweep_seconds": round(ranged_s, 3),
            "ranged_sweep_rows_per_s": round(ranged_removed / ranged_s, 1),
            "speed_up_vs_one_worker": round(sweep_s / ranged_s, 2),
        }
    rss: dict[str, Any] = {}
    if not args.no_rss:
        progress("peak RSS of the sweep in fresh subprocesses")
        rss_n = measure_rss_in_subprocess(args.rows, args.due_share, args.batch_size)
        rss_tenth = measure_rss_in_subprocess(
            max(args.rows // 10, 1), args.due_share, args.batch_size
        )
        rss = {
            "peak_rss_mb_at_n": round(rss_n, 1),
            "peak_rss_mb_at_n_div_10": round(rss_tenth, 1),
            "rss_growth_ratio": round(rss_n / rss_tenth, 3),
        }
    print(
        json.dumps(
            {
                "rows": args.rows,
                "due_share": args.due_share,
                "batch_size": args.batch_size,
                "rows_removed": removed,
                "same_rows_as_bare_delete": same,
                "evidence": "ledger intent + completion per batch, PostgreSQL",
                "sweep_seconds": round(sweep_s, 3),
                "bare_delete_seconds": round(bare_s, 3),
                "sweep_rows_per_s": round(removed / sweep_s, 1),
                "bare_delete_rows_per_s": round(bare_removed / bare_s, 1),
                "ratio_vs_bare_delete": round(sweep_s / bare_s, 2),
                **ranged,
                **rss,
            }
        )
    )


if __name__ == "__main__":
    main()
