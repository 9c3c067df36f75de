"""The S3 media connector against moto's S3 server over HTTP.

Each test lists the bucket itself afterwards: a due object must leave no
version and no delete marker behind, and every other object must be intact,
byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from connectors.media.facts import MediaInputError
from connectors.s3.connector import S3Connector, open_s3_connector
from connectors.s3.cursor import VersionCursor
from retention.policy import Action, Policy, Rule, System

pytestmark = pytest.mark.s3

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OLD = "2019-05-01T10:00:00+00:00"  # older than 5 years: due
RECENT = "2024-03-01T10:00:00+00:00"  # younger: not due
KEY = b"k" * 32


def system(bucket: str, facts: dict[str, Any]) -> System:
    return System.model_validate(
        {
            "kind": "s3",
            "bucket": bucket,
            "region": "eu-north-1",
            "retry_mode": "standard",
            "max_attempts": 2,
            "datasets": {
                "photos": {
                    "prefix": "photos/",
                    "primary_key": "key",
                    "columns": ["captured_at", "subjects", "consent_ref"],
                    "facts": facts,
                }
            },
        }
    )


def policy(media: System, *, holds: list[dict[str, Any]] | None = None) -> Policy:
    return Policy.model_validate(
        {
            "version": 1,
            "name": "test",
            "controller": "ID North Oy",
            "systems": {
                "media": media,
                "crm": {
                    "kind": "sql",
                    "connection": {"env": "CRM_URL"},
                    "datasets": {"media_index": {"table": "media_index", "primary_key": "key"}},
                },
            },
            "holds": holds or [],
            "rules": [age_rule()],
        }
    )


def age_rule(holds: list[str] | None = None) -> Rule:
    return Rule.model_validate(
        {
            "id": "photos_5y",
            "clause": "photos are kept 5 years from capture",
            "why": "register: media retention",
            "dataset": "media.photos",
            "due": {"clock": "captured_at", "after": "P5Y"},
            "action": {"kind": "delete"},
            "holds": holds or [],
        }
    )


def consent_rule(contact_ids: list[str]) -> Rule:
    return Rule.model_validate(
        {
            "id": "photo_consent_withdrawn",
            "clause": "erase at once when the photography consent is withdrawn",
            "why": "register: consent",
            "dataset": "media.photos",
            "due": {"where": [{"column": "subjects", "op": "in", "value": contact_ids}]},
            "action": {"kind": "delete"},
        }
    )


DELETE = Action(kind="delete")


def sweep(conn: S3Connector, rule: Rule) -> tuple[list[str], list[Any]]:
    """Scan, then apply each batch with the rule re-checked: what a run does."""
    done, kept = [], []
    for batch in conn.scan(rule, now=NOW):
        result = conn.apply("photos", DELETE, batch.due, now=NOW, rule=rule)
        assert not result.failed
        done += [str(k) for k in result.done]
        kept += result.kept + batch.held
    return done, kept


def all_versions(s3: Any, bucket: str) -> dict[str, list[tuple[str, bool]]]:
    """key -> [(version id, is delete marker)], straight from the bucket."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            out.setdefault(v["Key"], []).append((v["VersionId"], False))
        for m in page.get("DeleteMarkers", []):
            out.setdefault(m["Key"], []).append((m["VersionId"], True))
    return out


def bodies(s3: Any, bucket: str, keys: list[str]) -> dict[tuple[str, str], bytes]:
    """(key, version) -> bytes of every object version of the given keys."""
    out = {}
    for key, versions in all_versions(s3, bucket).items():
        if key in keys:
            for version, is_marker in versions:
                if not is_marker:
                    body = s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"]
                    out[(key, version)] = body.read()
    return out


def index_db(url: str, rows: dict[str, dict[str, str | None]]) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        "media_index",
        meta,
        sa.Column("object_key", sa.String, primary_key=True),
        sa.Column("captured_at", sa.String),
        sa.Column("subjects", sa.String),
        sa.Column("consent_ref", sa.String),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"object_key": k, **v} for k, v in rows.items()])
    engine.dispose()


@pytest.fixture
def connect(s3_endpoint) -> Any:
    opened: list[S3Connector] = []

    def make(media: System, **kwargs: Any) -> S3Connector:
        kwargs.setdefault("policy", policy(media))
        conn = open_s3_connector("media", media, endpoint_url=s3_endpoint, hash_key=KEY, **kwargs)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


# --- versioned bucket: every version and marker of a due object goes -----------


def test_sweep_removes_every_version_and_marker_of_due_objects_and_nothing_else(
    s3_client, make_bucket: Callable[..., str], connect, sqlite_url: str
) -> None:
    bucket = make_bucket(versioned=True)
    facts: dict[str, dict[str, str | None]] = {}
    due = [f"photos/2019/{n:03d}.jpg" for n in range(12)]
    keep = [f"photos/2024/{n:03d}.jpg" for n in range(12)]
    undated = ["photos/undated/000.jpg"]
    for key in due + keep + undated:
        for edit in range(3):  # three versions each
            s3_client.put_object(Bucket=bucket, Key=key, Body=f"{key} v{edit}".encode())
        captured = OLD if key in due else RECENT if key in keep else None
        facts[key] = {"captured_at": captured, "subjects": "101 102", "consent_ref": "c-1"}
    for key in due[::3] + keep[::3]:
        s3_client.delete_object(Bucket=bucket, Key=key)  # current version: a delete marker
    s3_client.put_object(Bucket=bucket, Key=due[0], Body=b"after the marker")
    before = bodies(s3_client, bucket, keep + undated)
    index_db(sqlite_url, facts)
    conn = connect(
        system(bucket, {"source": "index", "index": "crm.media_index"}), index_url=sqlite_url
    )

    done, kept = sweep(conn, age_rule())

    assert sorted(done) == due
    assert kept == []
    remaining = all_versions(s3_client, bucket)
    assert not set(due) & set(remaining), "a version or delete marker of a due object is left"
    assert bodies(s3_client, bucket, keep + undated) == before
    assert {k: len(v) for k, v in remaining.items() if k in keep[::3]} == dict.fromkeys(
        keep[::3], 4
    )
    again = list(conn.scan(age_rule(), now=NOW))
    assert [k for b in again for k in [*b.due, *b.held]] == []
    assert sum(b.undated for b in again) == 1  # counted, never acted on


def test_index_sweep_request_budget(
    s3_client, make_bucket: Callable[..., str], connect, sqlite_url: str
) -> None:
    bucket = make_bucket(versioned=True)
    due = [f"photos/2018/{n:04d}.jpg" for n in range(150)]
    keep = [f"photos/2025/{n:04d}.jpg" for n in range(150)]
    for key in due + keep:
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x")
    index_db(
        sqlite_url,
        {k: {"captured_at": OLD if k in due else RECENT, "subjects": "1"} for k in due + keep},
    )
    conn = connect(
        system(bucket, {"source": "index", "index": "crm.media_index"}), index_url=sqlite_url
    )

    done, _ = sweep(conn, age_rule())

    assert sorted(done) == due
    # The index decides what is due without asking S3; then one listing of
    # the due range, one of unfinished uploads, one DeleteObjects.
    assert conn.requests.by_operation == {
        "ListObjectVersions": 1,
        "ListMultipartUploads": 1,
        "DeleteObjects": 1,
    }
    assert set(all_versions(s3_client, bucket)) == set(keep)


def put_many(s3: Any, bucket: str, keys: list[str]) -> None:
    # moto takes about 220 puts/s; a few threads keep the fill to seconds.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))


def test_sweep_of_1500_due_objects_stays_within_two_requests_per_1000(
    s3_client, make_bucket: Callable[..., str], connect, sqlite_url: str
) -> None:
    bucket = make_bucket(versioned=True)
    due = [f"photos/2018/{n:04d}.jpg" for n in range(1500)]
    keep = [f"photos/2025/{n:04d}.jpg" for n in range(50)]
    put_many(s3_client, bucket, due + keep)
    index_db(
        sqlite_url,
        {k: {"captured_at": OLD if k in due else RECENT, "subjects": "1"} for k in due + keep},
    )
    conn = connect(
        system(bucket, {"source": "index", "index": "crm.media_index"}), index_url=sqlite_url
    )

    done, _ = sweep(conn, age_rule())

    assert sorted(done) == due
    # Two batches (1,000 + 500 keys) walk one listing: one page per 1,000
    # versions and one DeleteObjects per 1,000 pairs, so 2 per 1,000 deleted,
    # plus a constant 2: the dataset's one ListMultipartUploads, and the page
    # past the last due key that proves it has no further version. Here that
    # page is the second page, already read; it costs a request of its own
    # only when the due versions fill whole pages.
    assert conn.requests.total <= 2 * len(due) / 1000 + 2
    assert conn.requests.by_operation == {
        "ListObjectVersions": 2,
        "DeleteObjects": 2,
        "ListMultipartUploads": 1,
    }
    assert set(all_versions(s3_client, bucket)) == set(keep)


@pytest.mark.parametrize("pause", [False, True], ids=["interleaved", "apply-after-pause"])
def test_a_walked_listing_with_small_pages_leaves_no_version_of_any_due_object(
    pause: bool, s3_client, make_bucket: Callable[..., str], connect, sqlite_url: str
) -> None:
    """Pages of 3 entries and batches of 4 keys: a key's versions and markers
    span pages, batches end mid-page, due and kept keys interleave. Either each
    batch is erased as it is found, or all are planned first and erased after
    the listings aged (an approval pause), so apply lists again."""
    bucket = make_bucket(versioned=True)
    keys = [f"photos/2019/{n:02d}.jpg" for n in range(40)]
    due = [k for n, k in enumerate(keys) if n % 3 != 1]
    for n, key in enumerate(keys):
        for edit in range(n % 4 + 1):
            s3_client.put_object(Bucket=bucket, Key=key, Body=f"{key} v{edit}".encode())
        if n % 5 == 0:
            s3_client.delete_object(Bucket=bucket, Key=key)  # a delete marker on top
    kept_before = bodies(s3_client, bucket, [k for k in keys if k not in due])
    index_db(sqlite_url, {k: {"captured_at": OLD if k in due else RECENT} for k in keys})
    conn = connect(
        system(bucket, {"source": "index", "index": "crm.media_index"}),
        index_url=sqlite_url,
        batch_size=4,
    )
    conn.list_page_size = 3
    clock = [1000.0]
    conn._recent.clock = lambda: clock[0]  # the pause, without waiting a minute

    done: list[str] = []
    if pause:
        batches = list(conn.scan(age_rule(), now=NOW))
        clock[0] += 61
        for batch in batches:
            result = conn.apply("photos", DELETE, batch.due, now=NOW, rule=age_rule())
            assert not result.failed
            done += result.done
    else:
        done, _ = sweep(conn, age_rule())

    assert sorted(done) == due
    remaining = all_versions(s3_client, bucket)
    assert not set(due) & set(remaining), "a version or delete marker of a due object is left"
    assert bodies(s3_client, bucket, [k for k in keys if k not in due]) == kept_before
    assert list(conn.scan(age_rule(), now=NOW)) == []


@pytest.mark.parametrize("told", [True, False], ids=["erasure-noted", "deleted-behind-its-back"])
def test_the_listing_never_goes_on_from_a_version_that_is_gone(
    told: bool, s3_client, make_bucket: Callable[..., str]
) -> None:
    """moto answers a marker whose version was deleted with an empty page, as
    if the listing had ended: the cursor must list afresh, not stop."""
    bucket = make_bucket(versioned=True)
    keys = [f"photos/{n:02d}.jpg" for n in range(12)]
    for key in keys:
        for edit in range(2):
            s3_client.put_object(Bucket=bucket, Key=key, Body=f"{key} v{edit}".encode())
    cursor = VersionCursor(s3_client, bucket, "photos/", page_size=5)
    cursor.versions(keys[:4])
    assert cursor._marker is not None  # the walk would go on from this version
    gone_key, gone_version = cursor._marker
    if told:
        cursor.note_erased([gone_key])
    s3_client.delete_object(Bucket=bucket, Key=gone_key, VersionId=gone_version)

    rest = cursor.versions(keys[4:])

    truth = {k: sorted(v for v, _ in vs) for k, vs in all_versions(s3_client, bucket).items()}
    got = {k: sorted(v.version_id for v in vs) for k, vs in rest.versions.items()}
    assert got == {k: truth[k] for k in keys[4:]}


# --- Object Lock --------------------------------------------------------------


def test_locked_versions_are_kept_with_their_date_and_the_rest_erased(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(object_lock=True)
    until = (NOW + timedelta(days=400)).replace(microsecond=0)
    meta = {"captured-at": OLD, "subjects": "5"}
    s3_client.put_object(
        Bucket=bucket,
        Key="photos/compliance.jpg",
        Body=b"locked",
        Metadata=meta,
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    s3_client.put_object(
        Bucket=bucket,
        Key="photos/legal.jpg",
        Body=b"held",
        Metadata=meta,
        ObjectLockLegalHoldStatus="ON",
    )
    s3_client.put_object(Bucket=bucket, Key="photos/free.jpg", Body=b"free", Metadata=meta)
    conn = connect(system(bucket, {"source": "metadata"}))
    keys = ["photos/compliance.jpg", "photos/free.jpg", "photos/legal.jpg"]

    result = conn.apply("photos", DELETE, keys, now=NOW, rule=age_rule())

    assert result.done == ["photos/free.jpg"]
    assert result.failed == []
    kept = {h.key: (h.hold_id, h.until) for h in result.kept}
    assert kept == {
        "photos/compliance.jpg": ("object-lock:COMPLIANCE", until),
        "photos/legal.jpg": ("legal-hold", None),
    }
    remaining = all_versions(s3_client, bucket)
    assert set(remaining) == {"photos/compliance.jpg", "photos/legal.jpg"}
    body = s3_client.get_object(Bucket=bucket, Key="photos/compliance.jpg")["Body"].read()
    assert body == b"locked"


# --- per-key errors of DeleteObjects --------------------------------------------


def deny_delete(s3_client: Any, bucket: str, key: str) -> None:
    s3_client.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                        "Resource": f"arn:aws:s3:::{bucket}/{key}",
                    }
                ],
            }
        ),
    )


def test_a_key_s3_keeps_refusing_is_retried_then_reported_failed_not_done(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(versioned=True)
    meta = {"captured-at": OLD}
    for key in ("photos/a.jpg", "photos/denied.jpg", "photos/z.jpg"):
        s3_client.put_object(Bucket=bucket, Key=key, Body=key.encode(), Metadata=meta)
    deny_delete(s3_client, bucket, "photos/denied.jpg")  # a real refusal: moto enforces it
    conn = connect(system(bucket, {"source": "metadata"}))

    result = conn.apply(
        "photos", DELETE, ["photos/a.jpg", "photos/denied.jpg", "photos/z.jpg"], now=NOW
    )

    assert result.done == ["photos/a.jpg", "photos/z.jpg"]
    assert [k for k, _ in result.failed] == ["photos/denied.jpg"]
    assert "AccessDenied" in result.failed[0][1]
    assert result.kept == []
    assert conn.requests.by_operation["DeleteObjects"] == 4  # first try and three retries
    assert set(all_versions(s3_client, bucket)) == {"photos/denied.jpg"}
    body = s3_client.get_object(Bucket=bucket, Key="photos/denied.jpg")["Body"].read()
    assert body == b"photos/denied.jpg"


def test_a_transient_per_key_error_is_retried_and_then_erased(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(versioned=True)
    for key in ("photos/a.jpg", "photos/b.jpg"):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"captured-at": OLD})
    conn = connect(system(bucket, {"source": "metadata"}))
    # moto never answers InternalError for one key, so the first DeleteObjects
    # is rewritten at the client's HTTP boundary: the key is taken out of the
    # request (so S3 really keeps it) and put into the answer's Errors, as S3
    # does when one key hits an internal error.
    calls = {"n": 0}

    def drop_b(params: dict[str, Any], **_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            objects = params["Delete"]["Objects"]
            params["Delete"]["Objects"] = [o for o in objects if o["Key"] != "photos/b.jpg"]

    def report_b(parsed: dict[str, Any], **_: Any) -> None:
        if calls["n"] == 1:
            parsed.setdefault("Errors", []).append(
                {"Key": "photos/b.jpg", "Code": "InternalError", "Message": "injected"}
            )

    conn.client.meta.events.register("before-parameter-build.s3.DeleteObjects", drop_b)
    conn.client.meta.events.register("after-call.s3.DeleteObjects", report_b)

    result = conn.apply("photos", DELETE, ["photos/a.jpg", "photos/b.jpg"], now=NOW)

    assert result.done == ["photos/a.jpg", "photos/b.jpg"]
    assert result.failed == []
    assert calls["n"] == 2
    assert all_versions(s3_client, bucket) == {}


# --- multipart uploads --------------------------------------------------------


def test_unfinished_uploads_under_an_erased_key_are_aborted(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(versioned=True)
    meta = {"captured-at": OLD}
    s3_client.put_object(Bucket=bucket, Key="photos/old.mov", Body=b"v1", Metadata=meta)
    s3_client.put_object(Bucket=bucket, Key="photos/new.mov", Body=b"v1", Metadata=meta)
    for key in ("photos/old.mov", "photos/other.mov"):
        upload = s3_client.create_multipart_upload(Bucket=bucket, Key=key)
        s3_client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 1024
        )
    conn = connect(system(bucket, {"source": "metadata"}))

    result = conn.apply("photos", DELETE, ["photos/old.mov"], now=NOW)

    assert result.done == ["photos/old.mov"]
    uploads = s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == ["photos/other.mov"]
    assert set(all_versions(s3_client, bucket)) == {"photos/new.mov"}


# --- conditions, holds and the facts' sources ----------------------------------


def put_items(s3: Any, bucket: str, source: str, items: dict[str, dict[str, str]]) -> None:
    for key, facts in items.items():
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": b"img:" + key.encode()}
        if source == "metadata":
            kwargs["Metadata"] = {k.replace("_", "-"): v for k, v in facts.items()}
        if source == "tags":
            kwargs["Tagging"] = urlencode(facts)
        s3.put_object(**kwargs)
        if source == "sidecar":
            s3.put_object(Bucket=bucket, Key=key + ".json", Body=json.dumps(facts).encode())


ITEMS = {
    "photos/a.jpg": {"captured_at": RECENT, "subjects": "123 9"},
    "photos/b.jpg": {"captured_at": RECENT, "subjects": "9"},
    "photos/c.jpg": {"captured_at": RECENT, "subjects": "1234"},
    "photos/d.jpg": {"captured_at": OLD, "subjects": "77 123"},
}


@pytest.mark.parametrize("source", ["metadata", "tags", "sidecar", "index"])
def test_consent_withdrawal_finds_items_by_any_overlap_of_subjects_from_every_source(
    source: str, s3_client, make_bucket: Callable[..., str], connect, sqlite_url: str
) -> None:
    bucket = make_bucket(versioned=True)
    put_items(s3_client, bucket, source, ITEMS)
    facts: dict[str, Any] = {"source": source}
    if source == "index":
        facts["index"] = "crm.media_index"
        index_db(sqlite_url, {k: {**v, "consent_ref": None} for k, v in ITEMS.items()})
    conn = connect(system(bucket, facts), index_url=sqlite_url)

    assert conn.find_subject({"crm_contact_id": ["123"]}) == {
        "photos": ["photos/a.jpg", "photos/d.jpg"]
    }
    assert conn.subject_values("photos", "subjects", []) == {"123", "9", "1234", "77"}
    done, _ = sweep(conn, consent_rule(["123", "555"]))

    assert done == ["photos/a.jpg", "photos/d.jpg"]
    left = set(all_versions(s3_client, bucket))
    assert {k for k in left if not k.endswith(".json")} == {"photos/b.jpg", "photos/c.jpg"}
    if source == "sidecar":  # a sidecar goes with its item, the others stay
        assert {k for k in left if k.endswith(".json")} == {
            "photos/b.jpg.json",
            "photos/c.jpg.json",
        }
    assert conn.count("photos") == 2


def test_a_hold_keeps_due_items_and_says_until_when(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(versioned=True)
    put_items(
        s3_client,
        bucket,
        "metadata",
        {
            "photos/contract.jpg": {"captured_at": "2021-06-01T00:00:00+00:00"},
            "photos/old.jpg": {"captured_at": "2012-06-01T00:00:00+00:00"},
        },
    )
    media = system(bucket, {"source": "metadata"})
    hold = {
        "id": "contractor_liability",
        "law": "Tilaajavastuulaki 1233/2006",
        "why": "reports kept 2 years after the work ended",
        "dataset": "media.photos",
        "clock": "captured_at",
        "period": "P10Y",
    }
    conn = connect(media, policy=policy(media, holds=[hold]))
    rule = age_rule(holds=["contractor_liability"])

    batches = list(conn.scan(rule, now=NOW))

    assert [k for b in batches for k in b.due] == ["photos/old.jpg"]
    held = [h for b in batches for h in b.held]
    assert [(h.key, h.hold_id, h.until) for h in held] == [
        ("photos/contract.jpg", "contractor_liability", datetime(2031, 6, 1, tzinfo=UTC))
    ]
    result = conn.apply("photos", DELETE, ["photos/contract.jpg"], now=NOW, rule=rule)
    assert result.done == [] and [h.key for h in result.kept] == ["photos/contract.jpg"]
    assert set(all_versions(s3_client, bucket)) == {"photos/contract.jpg", "photos/old.jpg"}


def test_apply_with_rule_skips_keys_no_longer_due(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(versioned=True)
    put_items(s3_client, bucket, "tags", {"photos/a.jpg": {"captured_at": OLD}})
    conn = connect(system(bucket, {"source": "tags"}))
    [batch] = list(conn.scan(age_rule(), now=NOW))
    # Between plan and apply, someone corrects the capture date.
    s3_client.put_object_tagging(
        Bucket=bucket,
        Key="photos/a.jpg",
        Tagging={"TagSet": [{"Key": "captured_at", "Value": RECENT}]},
    )

    result = conn.apply("photos", DELETE, batch.due, now=NOW, rule=age_rule())

    assert result.skipped == ["photos/a.jpg"] and result.done == []
    assert set(all_versions(s3_client, bucket)) == {"photos/a.jpg"}


# --- bad input changes nothing ------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "action", "message"),
    [
        (["photos/a.jpg", "other/a.jpg"], "delete", "keys[1]: key is outside the dataset's prefix"),
        (["photos/a.jpg", ""], "delete", "keys[1]"),
        ("photos/a.jpg", "delete", "keys: expected a list"),
        (["photos/a.jpg"], "anonymise", "action.kind: 'anonymise'"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    keys: Any, action: str, message: str, s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(versioned=True)
    put_items(s3_client, bucket, "metadata", {"photos/a.jpg": {"captured_at": OLD}})
    conn = connect(system(bucket, {"source": "metadata"}))
    act = (
        Action(kind="delete")
        if action == "delete"
        else Action.model_validate(
            {"kind": "anonymise", "fields": {"subjects": {"strategy": "null"}}}
        )
    )

    with pytest.raises(MediaInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        conn.apply("photos", act, keys, now=NOW)
    with pytest.raises(MediaInputError, match="dataset: 'videos' is not a dataset"):
        conn.apply("videos", DELETE, ["photos/a.jpg"], now=NOW)

    assert set(all_versions(s3_client, bucket)) == {"photos/a.jpg"}
    assert conn.requests.total == 0


def test_keys_lists_what_still_has_a_version_or_marker_and_not_what_was_erased(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(versioned=True)
    meta = {"captured-at": OLD}
    for key in ("photos/a.jpg", "photos/b.jpg", "photos/c.jpg", "other/x.jpg"):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"v1", Metadata=meta)
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"v2", Metadata=meta)
    s3_client.delete_object(Bucket=bucket, Key="photos/b.jpg")  # only hidden, not erased
    conn = connect(system(bucket, {"source": "metadata", "names": {"captured_at": "captured-at"}}))

    result = conn.apply("photos", DELETE, ["photos/c.jpg"], now=NOW)

    assert result.done == ["photos/c.jpg"]
    listed = [key for page in conn.keys("photos") for key in page]
    assert listed == ["photos/a.jpg", "photos/b.jpg"]


def test_identities_are_the_subjects_of_the_given_objects_only(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(versioned=True)
    for key, subjects in (("photos/a.jpg", "101 102"), ("photos/b.jpg", "7"), ("photos/c.jpg", "")):
        s3_client.put_object(
            Bucket=bucket, Key=key, Body=b"x", Metadata={"captured-at": OLD, "subjects": subjects}
        )
    media = system(bucket, {"source": "metadata", "names": {"captured_at": "captured-at"}})
    photos = media.datasets["photos"].model_copy(
        update={"identity_fields": {"crm_contact_id": "subjects"}}
    )
    media = media.model_copy(update={"datasets": {"photos": photos}})
    conn = connect(media)
    assert conn.identities("photos", ["photos/a.jpg", "photos/c.jpg"]) == ["101", "102"]
    assert conn.identities("photos", ["photos/b.jpg"]) == ["7"]
