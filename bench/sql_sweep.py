"""Benchmark: a retention sweep through the SQL connector against bare DELETEs.

    .venv/bin/python bench/sql_sweep.py --rows 100000 --due-share 0.1
    .venv/bin/python bench/sql_sweep.py --dialect mysql --action anonymise --profile

Builds, in PostgreSQL (TEST_POSTGRES_URL) or MariaDB (`--dialect mysql`,
TEST_MYSQL_URL), a CRM-shaped `contacts` table of
N rows with about two children each (`consents`, with a real foreign key the
connector reflects, and `newsletter_reactions`, linked only in the policy),
set-based with generate_series. A known share of contacts is due. Measures:
(a) the sweep through the pipeline core: plan the rule, then apply it in
    batches with a ledger intent and completion per batch (the evidence:
    keyed hashes of every removed key, hash-chained, in PostgreSQL);
(b) the same rows removed by bare DELETE ... WHERE (children, then parents)
    on an identical copy;
(c) their ratio; with `--action anonymise` the rule anonymises the due
    contacts instead (UPDATE ... SET per changed column group, after-images
    digested into the intent) against one bare UPDATE of the same rows;
(d) peak RSS of the sweep at N and N/10, each in a fresh subprocess;
(e) with --workers W (W > 1): the same sweep on a third copy with the rule's
    keys split into W key ranges (tasks.parallel.split) applied at once by a
    local Dask cluster of W worker processes, each range with its own
    connections, every batch with its intent and completion in the one
    ledger; its speed-up over (a). The cluster's start is not timed, nor is
    Prefect's per-task overhead (a flow submits the same ranges as tasks).
With --profile, (a) also reports where its time went (plan scan, re-check,
identity reads, the change, after-images, keyed hashes, ledger writes),
timed by wrapping those functions (perf_counter, no profiler overhead).
The ledger is always in PostgreSQL, as in production. Each schema is
dropped at the end. Progress goes to stderr; the last line
of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.rss import peak_rss_mb  # noqa: E402
from connectors.sql.connector import open_sql_connector  # noqa: E402
from retention.ledger import Ledger  # noqa: E402
from retention.logs import configure  # noqa: E402
from retention.pipeline.apply import RunContext, apply_plan  # noqa: E402
from retention.pipeline.plan import plan_rule  # noqa: E402
from retention.policy import Policy  # noqa: E402

URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
NOW = datetime(2026, 6, 1, tzinfo=UTC)
HASH_KEY = b"bench-key-" * 4

DELETE: dict[str, Any] = {"kind": "delete"}
ANONYMISE: dict[str, Any] = {
    "kind": "anonymise",
    "fields": {
        "email": {"strategy": "null"},
        "phone": {"strategy": "null"},
        "full_name": {"strategy": "constant", "value": "Former contact"},
        "company": {"strategy": "null"},
    },
}
BARE_UPDATE_SET = "email = NULL, phone = NULL, full_name = 'Former contact', company = NULL"


def policy_for(action: str) -> dict[str, Any]:
    return {
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
                        "columns": ["status", "last_activity", "phone", "full_name", "company"],
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
                "action": ANONYMISE if action == "anonymise" else DELETE,
            }
        ],
    }


DUE = "last_activity < TIMESTAMP '2023-06-01 00:00:00' AND status <> 'active'"


def progress(message: str) -> None:
    print(f"[sql_sweep] {message}", file=sys.stderr, flush=True)


def schema_url(schema: str) -> str:
    url = sa.make_url(URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@dataclass(frozen=True)
class Copy:
    """One copy of the data, and where its ledger lives (always PostgreSQL)."""

    dialect: str
    data_url: str
    ledger_url: str


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


@contextmanager
def fresh_database(label: str) -> Iterator[str]:
    """A MariaDB database of its own; its URL."""
    admin = sa.create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    try:
        yield sa.make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE `{name}`"))
        admin.dispose()


@contextmanager
def fresh_copy(label: str, dialect: str) -> Iterator[Copy]:
    with fresh_schema(label) as schema:
        if dialect == "postgresql":
            yield Copy(dialect, schema_url(schema), schema_url(schema))
            return
        with fresh_database(label) as url:
            yield Copy(dialect, url, schema_url(schema))


def _postgres_statements(rows: int, per_mille: int) -> list[str]:
    return [
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


def _mysql_statements(rows: int, per_mille: int) -> list[str]:
    # The same rows as PostgreSQL's, from MariaDB's sequence engine.
    return [
        """CREATE TABLE contacts (id bigint PRIMARY KEY, email varchar(200),
           phone varchar(64), full_name varchar(200), company varchar(200),
           status varchar(32), last_activity datetime) ENGINE=InnoDB""",
        f"""INSERT INTO contacts
            SELECT seq, CONCAT('person', seq, '@example.fi'), CONCAT('+358 40 ', seq),
                   CONCAT('Person ', seq), CONCAT('Company ', MOD(seq, 997)),
                   CASE WHEN MOD(seq * 7919, 1000) < {per_mille} THEN 'ended' ELSE 'active' END,
                   CASE WHEN MOD(seq * 7919, 1000) < {per_mille}
                        THEN TIMESTAMP '2019-01-01 00:00:00' + INTERVAL MOD(seq, 365) DAY
                        ELSE TIMESTAMP '2025-01-01 00:00:00' + INTERVAL MOD(seq, 365) DAY END
            FROM seq_1_to_{rows}""",
        """CREATE TABLE consents (id bigint AUTO_INCREMENT PRIMARY KEY,
           contact_id bigint NOT NULL, kind varchar(32), given_at datetime,
           FOREIGN KEY (contact_id) REFERENCES contacts(id)) ENGINE=InnoDB""",
        """INSERT INTO consents (contact_id, kind, given_at)
           SELECT c.id, 'newsletter', c.last_activity FROM contacts c""",
        """CREATE TABLE newsletter_reactions (id bigint AUTO_INCREMENT PRIMARY KEY,
           contact_id bigint, campaign varchar(64), reacted_at datetime,
           INDEX (contact_id)) ENGINE=InnoDB""",
        """INSERT INTO newsletter_reactions (contact_id, campaign, reacted_at)
           SELECT c.id, CONCAT('campaign-', MOD(c.id, 50)), c.last_activity FROM contacts c
           WHERE MOD(c.id, 2) = 0
           UNION ALL
           SELECT c.id, 'campaign-x', c.last_activity FROM contacts c""",
        "ANALYZE TABLE contacts, consents, newsletter_reactions",
    ]


def build(copy: Copy, rows: int, due_share: float) -> None:
    """N contacts, a `due_share` of them due (spread over the key range), ~2 children each."""
    per_mille = round(due_share * 1000)
    if copy.dialect == "postgresql":
        statements = _postgres_statements(rows, per_mille)
    else:
        statements = _mysql_statements(rows, per_mille)
    engine = sa.create_engine(copy.data_url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


def counts(copy: Copy) -> dict[str, int]:
    engine = sa.create_engine(copy.data_url)
    with engine.connect() as conn:
        found = {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("contacts", "consents", "newsletter_reactions")
        }
        # Tells an anonymised copy from an untouched one.
        found["contacts_anonymised"] = int(
            conn.execute(
                sa.text("SELECT count(*) FROM contacts WHERE full_name = 'Former contact'")
            ).scalar_one()
        )
    engine.dispose()
    return found


class Phases:
    """Wall time spent inside chosen functions, by wrapping them; nested
    phases (keyed hashes inside a ledger write) are counted in both."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attribute: str, phase: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[phase] = self.seconds.get(phase, 0.0) + (time.perf_counter() - started)
                self.calls[phase] = self.calls.get(phase, 0) + 1

        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def undo(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo.clear()


def _profiled() -> Phases:
    import connectors.sql.anonymise as anonymise_module
    import connectors.sql.connector as sql_module
    import retention.ledger.keys as keys_module
    import retention.ledger.store as store_module
    import retention.pipeline.apply as apply_module

    phases = Phases()
    connector = sql_module.SqlConnector
    phases.wrap(connector, "apply", "apply_total")
    phases.wrap(connector, "_eligible", "recheck")
    phases.wrap(connector, "_identities_in", "identity_reads")
    phases.wrap(sql_module, "delete_tree", "delete_returning")
    phases.wrap(sql_module, "anonymise_batch", "anonymise_update")
    phases.wrap(anonymise_module, "read_images", "after_image_reads")
    phases.wrap(anonymise_module, "parent_identifiers", "anonymise_parent_reads")
    phases.wrap(keys_module.KeyRing, "hash_many", "keyed_hashes")
    phases.wrap(keys_module.KeyRing, "digest", "image_digests")
    phases.wrap(store_module, "append_all", "ledger_append_commit")
    phases.wrap(apply_module._Claims, "intent", "ledger_intent_total")
    phases.wrap(apply_module._Claims, "flush", "ledger_last_completion")
    return phases


def open_parts(copy: Copy, action: str, batch_size: int) -> tuple[Policy, Any, Ledger]:
    policy = Policy.model_validate(policy_for(action))
    connector = open_sql_connector(
        "crm",
        policy.systems["crm"],
        copy.data_url,
        hash_key=HASH_KEY,
        batch_size=batch_size,
        policy=policy,
    )
    connector.check()
    ledger = Ledger.open(copy.ledger_url, keys={"k1": HASH_KEY}, current_key_id="k1")
    return policy, connector, ledger


def sweep(
    copy: Copy, action: str, batch_size: int, profile: bool = False
) -> tuple[int, float, dict[str, Any]]:
    """(rows changed, seconds, phases) of the real pipeline core: plan the
    rule (every due key), then apply it in batches, each between a ledger
    intent and a completion (HMAC of every done and cascaded key) in a
    PostgreSQL ledger. Prefect's per-run overhead is not included."""
    policy, connector, ledger = open_parts(copy, action, batch_size)
    rule = policy.rules[0]
    ctx = RunContext("bench-run", "0" * 64, "bench", NOW, batch_size)
    phases = _profiled() if profile else None
    started = time.perf_counter()
    ledger.begin_run(
        run_id=ctx.run_id,
        policy_hash=ctx.policy_hash,
        policy_name="bench",
        trigger="manual",
        dry_run=False,
    )
    plan_started = time.perf_counter()
    plan = plan_rule(rule, policy, {"crm": connector}, now=NOW)
    plan_s = time.perf_counter() - plan_started
    outcome = apply_plan(plan, rule, {"crm": connector}, ledger, ctx)
    ledger.end_run(run_id=ctx.run_id, summary={"deleted": outcome.deleted})
    seconds = time.perf_counter() - started
    # The sweep's own peak, before the bench's verify below reads the ledger back.
    report: dict[str, Any] = {"sweep_peak_rss_mb": peak_rss_mb()}
    if phases is not None:
        phases.undo()
        report["phase_plan_s"] = round(plan_s, 3)
        report |= {f"phase_{k}_s": round(v, 3) for k, v in sorted(phases.seconds.items())}
        report["batches"] = phases.calls.get("apply_total", 0)
    ok = ledger.verify().ok and not ledger.unfinished_intents()
    ledger.close()
    connector.close()
    if not ok or outcome.failed:
        raise SystemExit(f"the sweep's ledger does not verify or it failed: {outcome}")
    changed = outcome.deleted + outcome.anonymised + outcome.cascaded
    return changed, seconds, report


def _apply_range(copy: Copy, part: Any, batch_size: int) -> Any:
    """One key range, in a Dask worker: its own connector and ledger."""
    configure(level="WARNING")
    policy, connector, ledger = open_parts(copy, "delete", batch_size)
    ctx = RunContext("bench-run", "0" * 64, "bench", NOW, batch_size)
    try:
        return apply_plan(part, policy.rules[0], {"crm": connector}, ledger, ctx)
    finally:
        ledger.close()
        connector.close()


def _warm() -> None:
    import connectors.sql.connector  # noqa: F401
    import retention.ledger  # noqa: F401
    import retention.pipeline.apply  # noqa: F401

    configure(level="WARNING")


def sweep_in_ranges(copy: Copy, batch_size: int, workers: int) -> tuple[int, float]:
    """(rows removed, seconds) of (a) with the apply split into key ranges
    run at once on a local Dask cluster of `workers` processes."""
    from distributed import Client, LocalCluster

    from tasks.parallel import merge, split

    policy, connector, ledger = open_parts(copy, "delete", batch_size)
    rule = policy.rules[0]
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
        futures = [client.submit(_apply_range, copy, p, batch_size, pure=False) for p in parts]
        outcome = merge(plan, client.gather(futures))
        ledger.end_run(run_id="bench-run", summary={"deleted": outcome.deleted})
        seconds = time.perf_counter() - started
    ok = ledger.verify().ok and not ledger.unfinished_intents()
    ledger.close()
    connector.close()
    if not ok or outcome.failed:
        raise SystemExit(f"the ranged sweep's ledger does not verify or it failed: {outcome}")
    return outcome.deleted + outcome.cascaded, seconds


def bare(copy: Copy, action: str) -> tuple[int, float]:
    """The same rows changed by bare statements: DELETE ... WHERE (children,
    then parents), or one UPDATE ... SET ... WHERE."""
    engine = sa.create_engine(copy.data_url)
    changed = 0
    started = time.perf_counter()
    with engine.begin() as conn:
        if action == "anonymise":
            statement = f"UPDATE contacts SET {BARE_UPDATE_SET} WHERE {DUE}"
            changed += conn.execute(sa.text(statement)).rowcount
        else:
            for child in ("consents", "newsletter_reactions"):
                statement = (
                    f"DELETE FROM {child} WHERE contact_id IN (SELECT id FROM contacts WHERE {DUE})"
                )
                changed += conn.execute(sa.text(statement)).rowcount
            changed += conn.execute(sa.text(f"DELETE FROM contacts WHERE {DUE}")).rowcount
    seconds = time.perf_counter() - started
    engine.dispose()
    return changed, seconds


def measure_rss_in_subprocess(rows: int, args: argparse.Namespace) -> float:
    command = [
        sys.executable,
        __file__,
        "--rows",
        str(rows),
        "--due-share",
        str(args.due_share),
        "--batch-size",
        str(args.batch_size),
        "--dialect",
        args.dialect,
        "--action",
        args.action,
        "--rss-only",
    ]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mb"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--due-share", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--dialect", choices=("postgresql", "mysql"), default="postgresql")
    parser.add_argument("--action", choices=("delete", "anonymise"), default="delete")
    parser.add_argument(
        "--workers", type=int, default=1, help="also sweep in key ranges on W Dask workers"
    )
    parser.add_argument("--profile", action="store_true", help="time the sweep's phases")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS runs")
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure(level="WARNING")  # per-batch progress would dominate the timing

    if args.rss_only:
        with fresh_copy("rss", args.dialect) as copy:
            build(copy, args.rows, args.due_share)
            changed, _, report = sweep(copy, args.action, args.batch_size)
        figures = {"rows": args.rows, "rows_changed": changed}
        figures["peak_rss_mb"] = report["sweep_peak_rss_mb"]
        figures["peak_rss_mb_with_verify"] = peak_rss_mb()
        print(json.dumps(figures))
        return

    with fresh_copy("sweep", args.dialect) as swept, fresh_copy("bare", args.dialect) as plain:
        progress(f"building two {args.dialect} copies of {args.rows} contacts")
        build(swept, args.rows, args.due_share)
        build(plain, args.rows, args.due_share)
        progress(f"built: {counts(swept)}")
        changed, sweep_s, phases = sweep(swept, args.action, args.batch_size, args.profile)
        phases.pop("sweep_peak_rss_mb")  # this process also built the copies: see --rss-only
        progress(f"sweep ({args.action}): {changed} rows in {sweep_s:.2f} s")
        bare_changed, bare_s = bare(plain, args.action)
        progress(f"bare {args.action}: {bare_changed} rows in {bare_s:.2f} s")
        after = counts(swept)
        same = after == counts(plain) and changed == bare_changed
    ranged: dict[str, Any] = {}
    if args.workers > 1:
        if args.dialect != "postgresql" or args.action != "delete":
            raise SystemExit("--workers is measured for PostgreSQL deletes only")
        with fresh_copy("ranges", args.dialect) as copy:
            progress(f"building a third copy for {args.workers} Dask workers")
            build(copy, args.rows, args.due_share)
            ranged_removed, ranged_s = sweep_in_ranges(copy, args.batch_size, args.workers)
            progress(f"in {args.workers} key ranges: {ranged_removed} rows in {ranged_s:.2f} s")
            same = same and counts(copy) == after and ranged_removed == changed
        ranged = {
            "workers": args.workers,
            "ranged_sweep_seconds": round(ranged_s, 3),
            "ranged_sweep_rows_per_s": round(ranged_removed / ranged_s, 1),
            "speed_up_vs_one_worker": round(sweep_s / ranged_s, 2),
        }
    rss: dict[str, Any] = {}
    if not args.no_rss:
        progress("peak RSS of the sweep in fresh subprocesses")
        rss_n = measure_rss_in_subprocess(args.rows, args)
        rss_tenth = measure_rss_in_subprocess(max(args.rows // 10, 1), args)
        rss = {
            "peak_rss_mb_at_n": round(rss_n, 1),
            "peak_rss_mb_at_n_div_10": round(rss_tenth, 1),
            "rss_growth_ratio": round(rss_n / rss_tenth, 3),
        }
    bare_name = "bare_update" if args.action == "anonymise" else "bare_delete"
    if "phase_keyed_hashes_s" in phases:
        # What the per-row evidence's hashes alone add to the bare statement,
        # in series as this sweep runs them: how much of the 2x budget they take.
        hashed_s = bare_s + phases["phase_keyed_hashes_s"]
        phases[f"ratio_{bare_name}_plus_keyed_hashes"] = round(hashed_s / bare_s, 2)
    print(
        json.dumps(
            {
                "dialect": args.dialect,
                "action": args.action,
                "rows": args.rows,
                "due_share": args.due_share,
                "batch_size": args.batch_size,
                "rows_changed": changed,
                f"same_rows_as_{bare_name}": same,
                "evidence": "ledger intent + completion per batch, PostgreSQL",
                "sweep_seconds": round(sweep_s, 3),
                f"{bare_name}_seconds": round(bare_s, 3),
                "sweep_rows_per_s": round(changed / sweep_s, 1),
                f"{bare_name}_rows_per_s": round(bare_changed / bare_s, 1),
                f"ratio_vs_{bare_name}": round(sweep_s / bare_s, 2),
                **phases,
                **ranged,
                **rss,
            }
        )
    )


if __name__ == "__main__":
    main()
