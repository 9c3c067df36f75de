"""The nightly sweep with its media store on S3 (moto's server over HTTP):
every version and delete marker of a due photo goes, photos not due stay
byte for byte, an Object Lock keeps what it locks and the run says until
when, and the run's signed ledger segment lands in a write-once bucket.

Everything is checked with the test's own listings of the buckets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)

from retention.ledger import verify_segment
from tests.snapshots import query

pytestmark = [pytest.mark.prefect, pytest.mark.s3]

AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
OLD = "2019-06-01T10:00:00+00:00"  # more than 5 years before AS_OF: due
RECENT = "2024-03-01T10:00:00+00:00"  # within 5 years: not due
HASH_KEY = "s3-sweep-test-hmac-key-0123456789abcdef"
RULE = "media-photos-five-years"

POLICY = """\
version: 1
name: s3-sweep-test
controller: ID North Oy
settings:
  batch_size: 100
  limits: {{max_count: 1000, max_share: 1.0}}
  hash_key: {{env: RETENTION_HASH_KEY}}
  hash_key_id: k1
systems:
  media:
    kind: s3
    bucket: {bucket}
    region: eu-north-1
    connection: {{env: RETENTION_MEDIA_ENDPOINT}}
    datasets:
      photos:
        prefix: photos/
        facts:
          source: metadata
          names: {{captured_at: captured-at}}
        columns: [captured_at]
rules:
  - id: {rule}
    clause: Photo material is kept for 5 years from the moment it was taken.
    why: Photos older than five years are erased.
    dataset: media.photos
    due: {{clock: captured_at, after: P5Y}}
    action: {{kind: delete}}
"""


def listing(client: Any, bucket: str) -> dict[tuple[str, str], str]:
    """(key, version id) -> sha256 of the bytes, or 'delete-marker'."""
    out: dict[tuple[str, str], str] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for marker in page.get("DeleteMarkers", []):
            out[(marker["Key"], marker["VersionId"])] = "delete-marker"
        for version in page.get("Versions", []):
            body = client.get_object(
                Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
            )["Body"].read()
            out[(version["Key"], version["VersionId"])] = hashlib.sha256(body).hexdigest()
    return out


def put(client: Any, bucket: str, key: str, body: bytes, captured: str, **extra: Any) -> None:
    client.put_object(
        Bucket=bucket, Key=key, Body=body, Metadata={"captured-at": captured}, **extra
    )


@pytest.fixture
def media(
    tmp_path: Path, monkeypatch, s3_client, s3_endpoint: str, make_bucket: Callable[..., str]
) -> dict[str, Any]:
    """A versioned media bucket (Object Lock on, so one photo can be locked)
    holding each case once, and a policy over it."""
    bucket = make_bucket(object_lock=True)
    for n in range(3):  # three versions, all old
        put(s3_client, bucket, "photos/old-three-versions.jpg", b"old v%d" % n, OLD)
    for n in range(2):  # two old versions hidden under a delete marker
        put(s3_client, bucket, "photos/old-under-marker.jpg", b"hidden v%d" % n, OLD)
    s3_client.delete_object(Bucket=bucket, Key="photos/old-under-marker.jpg")
    for n in range(2):
        put(s3_client, bucket, "photos/recent.jpg", b"recent v%d" % n, RECENT)
    put(s3_client, bucket, "photos/recent-deleted.jpg", b"recent gone", RECENT)
    s3_client.delete_object(Bucket=bucket, Key="photos/recent-deleted.jpg")
    put(s3_client, bucket, "archive/old-outside-prefix.jpg", b"not a photo of the dataset", OLD)
    # Retention counts from the real clock in S3, not from the run's as_of.
    locked_until = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    put(
        s3_client,
        bucket,
        "photos/old-locked.jpg",
        b"locked",
        OLD,
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=locked_until,
        ChecksumAlgorithm="SHA256",
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(bucket=bucket, rule=RULE))
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("RETENTION_MEDIA_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("RETENTION_HASH_KEY", HASH_KEY)
    monkeypatch.setenv("RETENTION_LEDGER_URL", ledger)
    return {"bucket": bucket, "policy": str(policy), "ledger": ledger, "until": locked_until}


def sweep(policy: str) -> Any:
    from flows.nightly_sweep import retention_sweep

    return retention_sweep(policy=policy, as_of=AS_OF, ask_approval=False)


def test_due_photos_lose_every_version_and_the_rest_stay_byte_identical(
    prefect_harness, media, s3_client
) -> None:
    bucket = media["bucket"]
    before = listing(s3_client, bucket)
    due = {
        "photos/old-three-versions.jpg",
        "photos/old-under-marker.jpg",
    }
    # The setup really has several versions and a marker for the due photos.
    assert sum(k == "photos/old-three-versions.jpg" for k, _ in before) == 3
    assert "delete-marker" in {v for (k, _), v in before.items() if k in due}

    summary = sweep(media["policy"])

    assert summary.ok
    outcome = summary.outcomes[0]
    assert (outcome.due, outcome.deleted, outcome.locked) == (3, 2, 1)
    after = listing(s3_client, bucket)
    assert {k for k, _ in after} == {k for k, _ in before} - due
    # Everything left is exactly as it was: same versions, same bytes, same markers.
    assert after == {kv: digest for kv, digest in before.items() if kv[0] not in due}


def test_an_object_lock_is_reported_with_its_date_in_the_run_and_the_ledger(
    prefect_harness, media, s3_client
) -> None:
    until = media["until"]
    summary = sweep(media["policy"])

    row = summary.outcomes[0].as_row()
    assert row["kept_by_lock"] == 1 and row["failed"] == 0 and row["status"] == "done"
    head = s3_client.head_object(Bucket=media["bucket"], Key="photos/old-locked.jpg")
    assert head["ObjectLockMode"] == "COMPLIANCE"

    completions = query(
        media["ledger"],
        "SELECT kept FROM ledger_entries WHERE run_id = :run AND kind = 'completion' "
        "AND rule_id = :rule",
        run=summary.run_id,
        rule=RULE,
    )
    kept = [k for c in completions for k in json.loads(c["kept"])]
    assert [(k["hold_id"], datetime.fromisoformat(k["until"])) for k in kept] == [
        ("object-lock:COMPLIANCE", until)
    ]
    # The operator reads the date in the run's evidence report in the UI.
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["retention-evidence-report"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[summary.run_id]),
            )
        )
    assert len(artifacts) == 1
    # (the exact date is checked in the ledger above; the report shows it in
    # the policy's time zone)
    assert "1 under object-lock:COMPLIANCE until " in str(artifacts[0].data)


def test_the_run_segment_is_stored_write_once_and_verifies(
    prefect_harness, media, s3_client, s3_endpoint: str, make_bucket, monkeypatch
) -> None:
    worm = make_bucket(object_lock=True)
    monkeypatch.setenv("RETENTION_EXPORT_BUCKET", worm)
    monkeypatch.setenv("RETENTION_EXPORT_ENDPOINT_URL", s3_endpoint)

    summary = sweep(media["policy"])

    key = f"ledger/segments/{summary.run_id}.jsonl"
    head = s3_client.head_object(Bucket=worm, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=3000)
    data = s3_client.get_object(Bucket=worm, Key=key)["Body"].read()
    assert verify_segment(data, {"k1": HASH_KEY.encode()})
    assert not verify_segment(data, {"k1": b"some-other-key-of-the-same-length!!!!!!"})
    # It is this run's evidence: every entry of the run, as the database holds them.
    lines = [json.loads(line) for line in data.splitlines()[:-1]]
    stored = query(
        media["ledger"],
        "SELECT entry_hash FROM ledger_entries WHERE run_id = :run ORDER BY seq",
        run=summary.run_id,
    )
    assert [line["entry_hash"] for line in lines] == [r["entry_hash"] for r in stored]
    assert {line["kind"] for line in lines} >= {"run-start", "intent", "completion", "run-end"}


def test_a_key_s3_refuses_to_delete_is_a_failed_item_in_the_run_and_the_ledger(
    prefect_harness, media, s3_client
) -> None:
    bucket = media["bucket"]
    refused = "photos/old-three-versions.jpg"
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
                        "Resource": f"arn:aws:s3:::{bucket}/{refused}",
                    }
                ],
            }
        ),
    )
    before = listing(s3_client, bucket)

    from flows.nightly_sweep import SweepFailed

    with pytest.raises(SweepFailed) as failed:
        sweep(media["policy"])
    outcome = failed.value.summary.outcomes[0]
    assert (outcome.deleted, outcome.failed, outcome.status) == (1, 1, "failed")
    # Every version of the refused photo is still there, byte for byte.
    after = listing(s3_client, bucket)
    assert {kv: d for kv, d in after.items() if kv[0] == refused} == {
        kv: d for kv, d in before.items() if kv[0] == refused
    }
    rows = query(
        media["ledger"],
        "SELECT failed, key_hashes FROM ledger_entries WHERE kind = 'completion' AND rule_id = :r",
        r=RULE,
    )
    failures = [f for row in rows for f in json.loads(row["failed"])]
    assert len(failures) == 1 and failures[0]["code"]
    claimed = {h for row in rows for h in json.loads(row["key_hashes"])}
    assert failures[0]["key_hash"] not in claimed  # never recorded as deleted


def test_a_kept_photo_never_resurfaces_and_the_ledger_claims_exactly_what_went(
    prefect_harness, media, s3_client
) -> None:
    """Issue 15, case 1, through a whole run: a locked photo hidden by a
    delete marker stays hidden; a photo whose newest version is locked loses
    its older versions, and the ledger says so, version by version."""
    bucket, until = media["bucket"], media["until"]
    lock = {
        "ObjectLockMode": "COMPLIANCE",
        "ObjectLockRetainUntilDate": until,
        "ChecksumAlgorithm": "SHA256",
    }
    put(s3_client, bucket, "photos/old-locked-hidden.jpg", b"hidden and locked", OLD, **lock)
    s3_client.delete_object(Bucket=bucket, Key="photos/old-locked-hidden.jpg")
    put(s3_client, bucket, "photos/old-edited.jpg", b"draft", OLD)
    put(s3_client, bucket, "photos/old-edited.jpg", b"final, locked", OLD, **lock)

    summary = sweep(media["policy"])

    outcome = summary.outcomes[0]
    assert (outcome.due, outcome.deleted, outcome.locked) == (5, 2, 3)
    after = listing(s3_client, bucket)
    hidden = [v for (k, _), v in after.items() if k == "photos/old-locked-hidden.jpg"]
    assert "delete-marker" in hidden and len(hidden) == 2  # marker and photo, both kept
    with pytest.raises(Exception, match="404"):
        s3_client.head_object(Bucket=bucket, Key="photos/old-locked-hidden.jpg")
    assert [k for k, _ in after].count("photos/old-edited.jpg") == 1  # only the locked one
    rows = query(
        media["ledger"],
        "SELECT kept, cascaded_hashes FROM ledger_entries WHERE run_id = :run "
        "AND kind = 'completion' AND rule_id = :rule",
        run=summary.run_id,
        rule=RULE,
    )
    kept = [k for row in rows for k in json.loads(row["kept"])]
    assert len(kept) == 3 and {k["hold_id"] for k in kept} == {"object-lock:COMPLIANCE"}
    # 3 + 2 versions of the erased photos, and the one draft of the edited photo.
    versions = [
        h
        for row in rows
        for h in json.loads(row["cascaded_hashes"]).get("media.photos-versions", [])
    ]
    assert len(versions) == 6
