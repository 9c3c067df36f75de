"""Benchmark: erasure on request against row-by-row erasure.

    .venv/bin/python bench/erasure.py --subjects 10000 --children 1000 --requests 1000

Builds, in PostgreSQL (TEST_POSTGRES_URL), the helpdesk- and CRM-shaped
schemas of tests/third_party.py with N people each (the same people in
both: one email finds a person in both systems), one policy over both
systems, and an identical copy of each database. Then, twice:
(a0) an ordinary subject (about 20 rows), then
(a) one subject whose records have `--children` more child rows (half of
    them helpdesk tickets with their threads and entries, half CRM notes);
    (a) minus (a0) is the cost of those rows without the run's fixed costs;
(b) `--requests` requests in one batch, one person each;
each is erased with `retention erase`'s core (tasks.erase.run_erase: the
policy, resolution in both systems, restriction and holds, set-wise rules
with a ledger intent and completion per batch in a PostgreSQL ledger, the
mention search and redaction, a request entry and certificate per request),
timed end to end, and then the very same changes (read off the first copy
by comparing it with the second) are made on the copy the way row-by-row
tools do it: one DELETE or UPDATE, and one commit, per row. The copies are
then compared again: they must be equal. The row-by-row side is given the
rows to change for free (no search, no evidence), so the ratio flatters it.

The last line printed is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
import yaml  # noqa: E402

from bench.rss import peak_rss_mb  # noqa: E402
from retention.logs import configure  # noqa: E402
from retention.pipeline.erase import ErasureRequest  # noqa: E402
from tasks.erase import run_erase  # noqa: E402
from tests.third_party import (  # noqa: E402
    CRM_POLICY,
    HELPDESK_POLICY,
    SUBJECT,
    SUBJECT_AT,
    crm,
    crm_rows,
    helpdesk,
    helpdesk_rows,
    person,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
ORDINARY = 150  # (a0): a person with the usual rows, outside the batch


def say(message: str) -> None:
    print(message, flush=True)


@contextmanager
def schemas(base: str, names: list[str]) -> Iterator[dict[str, str]]:
    """Fresh PostgreSQL schemas, a URL for each (search_path set), dropped after."""
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    made = {name: f"erasure_bench_{name}_{uuid.uuid4().hex[:8]}" for name in names}
    with admin.connect() as conn:
        for schema in made.values():
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield {
            name: sa.make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
            for name, schema in made.items()
        } | {f"{name}:schema": schema for name, schema in made.items()}
    finally:
        with admin.connect() as conn:
            for schema in made.values():
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def build(url: str, metadata: sa.MetaData, rows: dict[str, list[dict[str, Any]]]) -> int:
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for table in metadata.sorted_tables:
                batch = rows.get(table.name) or []
                for start in range(0, len(batch), 10_000):
                    conn.execute(table.insert(), batch[start : start + 10_000])
    finally:
        engine.dispose()
    return sum(len(v) for v in rows.values())


def copy_schema(engine: sa.Engine, source: str, target: str, metadata: sa.MetaData) -> None:
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(
                sa.text(f'CREATE TABLE "{target}".{table.name} AS TABLE "{source}".{table.name}')
            )
            conn.execute(sa.text(f'ALTER TABLE "{target}".{table.name} ADD PRIMARY KEY (id)'))


def differences(
    conn: sa.Connection, done: str, todo: str, metadata: sa.MetaData
) -> list[tuple[str, str, dict[str, Any]]]:
    """What makes `todo` equal to `done`: ("delete", table, {id}) and
    ("update", table, {id, changed columns...}), read with plain SQL."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for table in metadata.sorted_tables:
        t = table.name
        gone = conn.execute(
            sa.text(f'SELECT id FROM "{todo}".{t} EXCEPT SELECT id FROM "{done}".{t}')
        ).scalars()
        out += [("delete", t, {"id": k}) for k in gone]
        changed = conn.execute(
            sa.text(
                f'SELECT a.*, b.* FROM "{done}".{t} a JOIN "{todo}".{t} b ON a.id = b.id '
                "WHERE ROW(a.*) IS DISTINCT FROM ROW(b.*)"
            )
        )
        width = len(table.columns)
        for row in changed:
            new, old = row[:width], row[width:]
            values = {c.name: v for c, v, o in zip(table.columns, new, old, strict=True) if v != o}
            out.append(("update", t, {"id": new[0], **values}))
    return out


def row_by_row(engine: sa.Engine, schema: str, changes: list[tuple[str, str, dict]]) -> float:
    """One statement and one commit per row, as a row-by-row tool erases."""
    started = time.perf_counter()
    with engine.connect() as conn:
        for kind, table, values in changes:
            if kind == "delete":
                sql = f'DELETE FROM "{schema}".{table} WHERE id = :id'
            else:
                sets = ", ".join(f"{c} = :{c}" for c in values if c != "id")
                sql = f'UPDATE "{schema}".{table} SET {sets} WHERE id = :id'
            conn.execute(sa.text(sql), values)
            conn.commit()
    return time.perf_counter() - started


def merged_policy(folder: Path) -> Path:
    """The two test policies as one: a request is resolved in both systems."""
    desk, crm_policy = (yaml.safe_load(p.read_text()) for p in (HELPDESK_POLICY, CRM_POLICY))
    desk["name"] = "bench-erasure"
    desk["systems"].update(crm_policy["systems"])
    desk["holds"] = crm_policy.get("holds", [])
    desk["rules"] += crm_policy["rules"]
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(desk, sort_keys=False, allow_unicode=True))
    return path


def timed_erasure(
    policy: Path, requests: list[ErasureRequest], profile: Path | None
) -> tuple[float, Any]:
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    result = run_erase(str(policy), requests, as_of=AS_OF, approved_by="bench")
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    if profiler and profile:
        profiler.dump_stats(profile)
        pstats.Stats(str(profile)).sort_stats("cumulative").print_stats(25)
    statuses = {c.status for c in result.certificates}
    if statuses != {"completed"}:
        raise SystemExit(f"erasure did not complete: {statuses}; {result.summary}")
    return seconds, result


def scenario(
    label: str,
    requests: list[ErasureRequest],
    policy: Path,
    engine: sa.Engine,
    names: dict[str, str],
    profile: Path | None,
) -> dict[str, Any]:
    say(f"{label}: erasing {len(requests)} request(s) through the pipeline ...")
    pipeline_s, _ = timed_erasure(policy, requests, profile)
    changes: list[tuple[str, str, dict]] = []
    with engine.connect() as conn:
        for system, metadata in (("hd", helpdesk), ("crm", crm)):
            changes += [
                (kind, f"{names[system + '_copy:schema']}\0{t}", values)
                for kind, t, values in differences(
                    conn, names[f"{system}:schema"], names[f"{system}_copy:schema"], metadata
                )
            ]
    say(f"{label}: {len(changes)} rows changed; the same, row by row, on the copy ...")
    by_schema: dict[str, list[tuple[str, str, dict]]] = {}
    for kind, where, values in changes:
        schema, table = where.split("\0")
        by_schema.setdefault(schema, []).append((kind, table, values))
    rows_s = sum(row_by_row(engine, schema, todo) for schema, todo in by_schema.items())
    with engine.connect() as conn:
        for system, metadata in (("hd", helpdesk), ("crm", crm)):
            left = differences(
                conn, names[f"{system}:schema"], names[f"{system}_copy:schema"], metadata
            )
            if left:
                raise SystemExit(f"{label}: the copies differ after row by row: {left[:3]}")
    say(f"{label}: pipeline {pipeline_s:.2f} s, row by row {rows_s:.2f} s")
    return {
        "requests": len(requests),
        "rows_changed": len(changes),
        "rows_deleted": sum(k == "delete" for k, _, _ in changes),
        "rows_updated": sum(k == "update" for k, _, _ in changes),
        "pipeline_s": round(pipeline_s, 3),
        "row_by_row_s": round(rows_s, 3),
        "ratio_row_by_row_over_pipeline": round(rows_s / pipeline_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=10_000, help="people in each system")
    parser.add_argument("--children", type=int, default=1000, help="(a): the subject's rows")
    parser.add_argument("--requests", type=int, default=1000, help="(b): requests in a batch")
    parser.add_argument("--profile", action="store_true", help="cProfile each erasure")
    args = parser.parse_args()
    configure(level="WARNING")  # per-batch progress would dominate the timing
    # A stopped run still drops its schemas (the `finally` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = os.environ.get("TEST_POSTGRES_URL", DEFAULT_URL)
    if args.requests > args.subjects - 200:
        raise SystemExit("--requests must leave room: at most --subjects - 200")
    with (
        tempfile.TemporaryDirectory() as tmp,
        schemas(base, ["hd", "hd_copy", "crm", "crm_copy", "evidence"]) as names,
    ):
        folder = Path(tmp)
        policy = merged_policy(folder)
        os.environ.update(
            RETENTION_HELPDESK_URL=names["hd"],
            RETENTION_CRM_URL=names["crm"],
            RETENTION_LEDGER_URL=names["evidence"],
            RETENTION_HASH_KEY="bench-erasure-key",
        )
        say(f"building {args.subjects} people in a helpdesk and a CRM (and a copy of each) ...")
        half = args.children // 2
        started = time.perf_counter()
        rows = build(names["hd"], helpdesk, helpdesk_rows(args.subjects, extra=half))
        rows += build(names["crm"], crm, crm_rows(args.subjects, extra=args.children - half))
        engine = sa.create_engine(base)
        copy_schema(engine, names["hd:schema"], names["hd_copy:schema"], helpdesk)
        copy_schema(engine, names["crm:schema"], names["crm_copy:schema"], crm)
        say(f"built {rows} rows per copy in {time.perf_counter() - started:.1f} s")
        profile = folder / "profile.out" if args.profile else None
        # An ordinary person first (about 20 rows): the same run's fixed
        # costs (policy, connections, reflection, ledger, mention search)
        # with few rows, so (a) minus this is the cost of the extra rows.
        plain = person(ORDINARY)
        few = [ErasureRequest(request_id="FEW", email=[plain.emails[0]], name=[plain.name])]
        a0 = scenario("(a0) one ordinary subject", few, policy, engine, names, None)
        one = [ErasureRequest(request_id="ONE", email=[SUBJECT.emails[0]], name=[SUBJECT.name])]
        a = scenario("(a) one subject", one, policy, engine, names, profile)
        marginal = {
            "rows": a["rows_changed"] - a0["rows_changed"],
            "pipeline_s": round(a["pipeline_s"] - a0["pipeline_s"], 3),
            "row_by_row_s": round(a["row_by_row_s"] - a0["row_by_row_s"], 3),
        }
        if marginal["pipeline_s"] > 0:
            marginal["ratio_row_by_row_over_pipeline"] = round(
                marginal["row_by_row_s"] / marginal["pipeline_s"], 1
            )
        people = [person(i) for i in range(200, 200 + args.requests) if i != SUBJECT_AT]
        assert ORDINARY < 200 and ORDINARY != SUBJECT_AT  # not in the batch
        batch = [
            ErasureRequest(request_id=f"B-{n}", email=[p.emails[0]], name=[p.name])
            for n, p in enumerate(people)
        ]
        b = scenario("(b) a batch", batch, policy, engine, names, profile)
        engine.dispose()
    print(
        json.dumps(
            {
                "subjects": args.subjects,
                "rows_per_copy": rows,
                **{f"ordinary_subject_{k}": v for k, v in a0.items()},
                **{f"one_subject_{k}": v for k, v in a.items()},
                **{f"one_subject_extra_rows_{k}": v for k, v in marginal.items()},
                **{f"batch_{k}": v for k, v in b.items()},
                # The whole bench process (both copies' runs, row by row too).
                "peak_rss_mb": round(peak_rss_mb(), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
