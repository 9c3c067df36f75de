"""Benchmark: the S3 connector's sweep against deleting one version per request.

Starts its own moto S3 server on 127.0.0.1, fills two identical versioned
buckets (keys named by capture date, photos/YYYY/MM/..., as media stores
usually are), puts each photo's facts where `--facts` says (object tags,
user metadata, a `<key>.json` sidecar object, or an SQLite index table), and
erases the due share from each bucket: once with the connector, as a run
does it (plan: scan; then per batch: the intent's identities, the re-checked
apply), once with delete_object per version after a full listing. Requests
are counted at the HTTP boundary (botocore's before-send event), listings
included; the plan's count (max_share's denominator) is reported apart.

Progress goes to stderr, per batch with its rate over the batch's whole time
(listing, re-check and identities included); the last stdout line is one
JSON object. moto fills at about 220 objects/s: the default 2,000 objects
(two buckets) takes under a minute; the index figures in the README also use
--objects 20000.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import boto3
import sqlalchemy as sa

from connectors.base import Prepared
from connectors.s3.client import RequestCounter
from connectors.s3.connector import open_s3_connector
from retention.policy import Policy, Rule

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SOURCES = ("tags", "metadata", "sidecar", "index")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def capture_dates(objects: int, due_share: float) -> list[datetime]:
    """Evenly spread so that `due_share` of them are older than five years."""
    cutoff = NOW - timedelta(days=5 * 365 + 2)
    due = round(objects * due_share)
    old = [cutoff - timedelta(days=1 + 1800 * (due - i) / max(due, 1)) for i in range(due)]
    young = [
        cutoff + timedelta(days=2 + 1700 * i / max(objects - due, 1)) for i in range(objects - due)
    ]
    return old + young


def key_of(n: int, captured: datetime) -> str:
    return f"photos/{captured:%Y/%m/%d}/{n:06d}.jpg"


def facts_of(n: int, captured: datetime) -> dict[str, str]:
    return {"captured_at": captured.isoformat(), "subjects": str(1000 + n % 97)}


def fill(s3: Any, bucket: str, keys: list[str], dates: list[datetime], source: str) -> None:
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def put(n: int) -> None:
        facts = facts_of(n, dates[n])
        extra: dict[str, Any] = {}
        if source == "tags":
            extra["Tagging"] = urlencode(facts)
        elif source == "metadata":
            extra["Metadata"] = {k.replace("_", "-"): v for k, v in facts.items()}
        s3.put_object(Bucket=bucket, Key=keys[n], Body=b"x", **extra)
        if source == "sidecar":
            s3.put_object(Bucket=bucket, Key=keys[n] + ".json", Body=json.dumps(facts).encode())

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for i, _ in enumerate(pool.map(put, range(len(keys)))):
            if i and i % 2000 == 0:
                progress(f"  {bucket}: {i} objects ({i / (time.monotonic() - started):.0f}/s)")


def write_index(url: str, keys: list[str], dates: list[datetime]) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        "media_index",
        meta,
        sa.Column("object_key", sa.String, primary_key=True),
        sa.Column("captured_at", sa.String),
        sa.Column("subjects", sa.String),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {"object_key": k, **facts_of(i, d)}
                for i, (k, d) in enumerate(zip(keys, dates, strict=True))
            ],
        )
    engine.dispose()


def policy_for(bucket: str, source: str) -> Policy:
    facts: dict[str, Any] = {"source": source}
    if source == "index":
        facts["index"] = "crm.media_index"
    return Policy.model_validate(
        {
            "version": 1,
            "name": "bench",
            "controller": "ID North Oy",
            "systems": {
                "media": {
                    "kind": "s3",
                    "bucket": bucket,
                    "region": "eu-north-1",
                    "datasets": {
                        "photos": {
                            "prefix": "photos/",
                            "primary_key": "key",
                            "columns": ["captured_at", "subjects"],
                            "identity_fields": {"crm_contact_id": "subjects"},
                            "facts": facts,
                        }
                    },
                },
                "crm": {
                    "kind": "sql",
                    "connection": {"env": "CRM_URL"},
                    "datasets": {"media_index": {"table": "media_index", "primary_key": "key"}},
                },
            },
            "rules": [
                {
                    "id": "photos_5y",
                    "clause": "photos, videos and audio are kept 5 years from capture",
                    "why": "register: media retention",
                    "dataset": "media.photos",
                    "due": {"clock": "captured_at", "after": "P5Y"},
                    "action": {"kind": "delete"},
                }
            ],
        }
    )


def sweep(endpoint: str, policy: Policy, index_url: str, batch_size: int) -> dict[str, Any]:
    rule: Rule = policy.rules[0]
    conn = open_s3_connector(
        "media",
        policy.systems["media"],
        endpoint_url=endpoint,
        hash_key=b"bench",
        batch_size=batch_size,
        policy=policy,
        index_url=index_url,
    )
    started = time.monotonic()
    examined = conn.count("photos")
    count_requests = conn.requests.total
    conn.requests.reset()
    sweep_started = time.monotonic()
    plan = [k for batch in conn.scan(rule, now=NOW) for k in batch.due]
    progress(f"  plan: {len(plan)} due, {conn.requests.total} requests")
    deleted = 0
    subjects = 0

    def record(prepared: Prepared) -> None:
        nonlocal subjects
        subjects += len(conn.identities("photos", prepared.changes))

    for start in range(0, len(plan), batch_size):
        batch_started = time.monotonic()
        result = conn.apply(
            "photos",
            rule.action,
            plan[start : start + batch_size],
            now=NOW,
            rule=rule,
            record=record,
        )
        if result.failed:
            raise SystemExit(f"sweep failed for {len(result.failed)} keys")
        deleted += len(result.done)
        seconds = time.monotonic() - batch_started
        progress(
            f"  batch: {len(result.done)} deleted in {seconds:.2f} s "
            f"({len(result.done) / seconds:.0f} objects/s), {conn.requests.total} requests so far"
        )
    elapsed = time.monotonic() - sweep_started
    by_operation = dict(conn.requests.by_operation)
    progress(f"  sweep requests by operation: {by_operation}")
    conn.close()
    return {
        "examined": examined,
        "deleted": deleted,
        "subjects": subjects,
        "seconds": elapsed,
        "with_count_seconds": time.monotonic() - started,
        "by_operation": by_operation,
        "count_requests": count_requests,
    }


def one_by_one(
    s3: Any, counter: RequestCounter, bucket: str, due: set[str]
) -> tuple[int, float, int]:
    counter.reset()
    started = time.monotonic()
    versions: list[tuple[str, str]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="photos/"):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if entry["Key"] in due or entry["Key"].removesuffix(".json") in due:
                versions.append((entry["Key"], entry["VersionId"]))
    for i, (key, version) in enumerate(versions, 1):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
        if i % 1000 == 0:
            progress(f"  one-by-one: {i} deleted")
    media = {k for k, _ in versions if not k.endswith(".json")}
    return len(media), time.monotonic() - started, counter.total


def remaining_media(s3: Any, bucket: str) -> set[str]:
    found = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        found |= {e["Key"] for e in page.get("Versions", []) + page.get("DeleteMarkers", [])}
    return {k.removesuffix(".json") for k in found}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--due-share", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--facts", choices=SOURCES, default="index")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-north-1")
    counter = RequestCounter()
    s3.meta.events.register("before-send.s3", counter)
    try:
        dates = capture_dates(args.objects, args.due_share)
        keys = [key_of(n, d) for n, d in enumerate(dates)]
        cutoff = NOW.replace(year=NOW.year - 5)
        due = {k for k, d in zip(keys, dates, strict=True) if d < cutoff}
        with tempfile.TemporaryDirectory() as tmp:
            index_url = f"sqlite:///{tmp}/crm.sqlite"
            write_index(index_url, keys, dates)
            progress(
                f"filling 2 buckets with {args.objects} objects each ({len(due)} due), "
                f"facts in {args.facts}"
            )
            fill(s3, "bench-sweep", keys, dates, args.facts)
            fill(s3, "bench-one-by-one", keys, dates, args.facts)

            progress("connector sweep")
            swept = sweep(
                endpoint, policy_for("bench-sweep", args.facts), index_url, args.batch_size
            )
            progress("one object version per request")
            single_deleted, single_s, single_requests = one_by_one(
                s3, counter, "bench-one-by-one", due
            )
        expected = set(keys) - due
        if remaining_media(s3, "bench-sweep") != expected or swept["deleted"] != len(due):
            raise SystemExit("sweep left the bucket in the wrong state")
        if remaining_media(s3, "bench-one-by-one") != expected:
            raise SystemExit("one-by-one left the bucket in the wrong state")
    finally:
        server.stop()
    deleted = swept["deleted"]
    requests = sum(swept["by_operation"].values())
    sweep_rate = deleted / swept["seconds"]
    single_rate = single_deleted / single_s
    print(
        json.dumps(
            {
                "facts": args.facts,
                "objects": args.objects,
                "examined_objects": swept["examined"],
                "deleted_objects": deleted,
                "batch_size": args.batch_size,
                "sweep_seconds": round(swept["seconds"], 3),
                "sweep_objects_per_s": round(sweep_rate, 1),
                "one_by_one_seconds": round(single_s, 3),
                "one_by_one_objects_per_s": round(single_rate, 1),
                "speedup_vs_one_by_one": round(sweep_rate / single_rate, 2),
                # scan, identities for each intent, apply: what a run does after its count
                "sweep_requests": requests,
                "sweep_requests_by_operation": swept["by_operation"],
                "requests_per_1000_deleted": round(1000 * requests / deleted, 3),
                "requests_per_examined_object": round(requests / swept["examined"], 3),
                # the plan's count (max_share's denominator): one listing page per 1,000 versions
                "count_requests": swept["count_requests"],
                "one_by_one_requests": single_requests,
                "one_by_one_requests_per_1000_deleted": round(
                    1000 * single_requests / single_deleted, 1
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
