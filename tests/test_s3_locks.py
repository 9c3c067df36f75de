"""Issue 15, case 1: Object Lock and delete markers. A kept object never
comes back to life, and what the result claims is exactly what left the
bucket (checked with the test's own listings of moto's S3 server).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from connectors.base import Prepared
from tests import test_s3_connector
from tests.test_s3_connector import (
    DELETE,
    NOW,
    OLD,
    age_rule,
    all_versions,
    system,
)

connect = test_s3_connector.connect  # the fixture, shared

pytestmark = pytest.mark.s3

CHILD = "media.photos-versions"


def put_version(s3: Any, bucket: str, key: str, body: bytes, lock: str | None = None) -> str:
    extra: dict[str, Any] = {}
    if lock == "compliance":
        extra = {
            "ObjectLockMode": "COMPLIANCE",
            "ObjectLockRetainUntilDate": (NOW + timedelta(days=400)).replace(microsecond=0),
        }
    elif lock == "legal-hold":
        extra = {"ObjectLockLegalHoldStatus": "ON"}
    answer = s3.put_object(
        Bucket=bucket, Key=key, Body=body, Metadata={"captured-at": OLD}, **extra
    )
    return str(answer["VersionId"])


def visible(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in ("404", "NoSuchKey")
        return False
    return True


@pytest.mark.parametrize("lock", ["compliance", "legal-hold"])
def test_a_locked_object_hidden_by_a_delete_marker_stays_hidden_and_is_reported_kept(
    lock: str, s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(object_lock=True)
    key = "photos/hidden-locked.jpg"
    put_version(s3_client, bucket, key, b"locked photo", lock)
    s3_client.delete_object(Bucket=bucket, Key=key)  # a delete marker hides it
    put_version(s3_client, bucket, "photos/free.jpg", b"free")
    before = all_versions(s3_client, bucket)[key]
    assert not visible(s3_client, bucket, key)
    conn = connect(system(bucket, {"source": "metadata"}))
    recorded: list[Prepared] = []

    [batch] = list(conn.scan(age_rule(), now=NOW))
    assert batch.due == ["photos/free.jpg", key]  # found, though a marker hides it
    result = conn.apply(
        "photos", DELETE, batch.due, now=NOW, rule=age_rule(), record=recorded.append
    )

    assert not visible(s3_client, bucket, key), "removing the marker resurfaced a kept photo"
    assert all_versions(s3_client, bucket)[key] == before  # marker and version untouched
    assert [h.key for h in result.kept] == [key]
    assert result.done == ["photos/free.jpg"]
    assert key not in result.cascaded.get(CHILD, [""])[0]  # nothing of it went
    assert [p.changes for p in recorded] == [["photos/free.jpg", key]]
    # Recovery's view agrees: the kept key is still held, the erased one is not.
    assert [k for page in conn.keys("photos") for k in page] == [key]


def test_older_versions_under_a_locked_newest_go_and_are_claimed_exactly(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(object_lock=True)
    key = "photos/edited.jpg"
    old_ids = [put_version(s3_client, bucket, key, b"draft %d" % n) for n in range(2)]
    locked_id = put_version(s3_client, bucket, key, b"final", "compliance")
    conn = connect(system(bucket, {"source": "metadata"}))
    recorded: list[Prepared] = []

    result = conn.apply("photos", DELETE, [key], now=NOW, rule=age_rule(), record=recorded.append)

    assert result.done == [] and [h.key for h in result.kept] == [key]
    assert [v for v, _ in all_versions(s3_client, bucket)[key]] == [locked_id]
    claims = [f"{key}?versionId={v}" for v in old_ids]
    assert sorted(result.cascaded[CHILD]) == sorted(claims)  # what went, no more
    # The intent named every data version it might remove...
    [prepared] = recorded
    assert sorted(prepared.cascaded[CHILD]) == sorted(claims + [f"{key}?versionId={locked_id}"])
    # ...and the store answers recovery the same way the result does: the
    # key is still held, of its versions only the locked one.
    assert [k for page in conn.keys("photos") for k in page] == [key]
    assert [k for page in conn.keys("photos-versions") for k in page] == [
        f"{key}?versionId={locked_id}"
    ]
    assert visible(s3_client, bucket, key)  # the locked photo was the current one: still is


def test_a_refused_version_keeps_the_delete_marker_too(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    """Not only a lock: any version S3 keeps refusing keeps its key's markers."""
    from tests.test_s3_connector import deny_delete

    bucket = make_bucket(versioned=True)
    key = "photos/denied.jpg"
    put_version(s3_client, bucket, key, b"v1")
    s3_client.delete_object(Bucket=bucket, Key=key)
    deny_delete(s3_client, bucket, key)
    conn = connect(system(bucket, {"source": "metadata"}))

    result = conn.apply("photos", DELETE, [key], now=NOW)

    assert [k for k, _ in result.failed] == [key]
    assert not visible(s3_client, bucket, key)
    assert [m for _, m in all_versions(s3_client, bucket)[key]].count(True) == 1


def test_if_the_intent_cannot_be_written_nothing_changes(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    bucket = make_bucket(versioned=True)
    put_version(s3_client, bucket, "photos/a.jpg", b"a")
    before = all_versions(s3_client, bucket)
    conn = connect(system(bucket, {"source": "metadata"}))

    def refuse(_: Prepared) -> None:
        raise RuntimeError("ledger down")

    with pytest.raises(RuntimeError, match="ledger down"):
        conn.apply("photos", DELETE, ["photos/a.jpg"], now=NOW, rule=age_rule(), record=refuse)
    assert all_versions(s3_client, bucket) == before


def test_count_includes_objects_hidden_by_a_delete_marker(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    """Case 4: the max_share denominator. A marker on top leaves the photo in
    its older versions; a key with only markers left holds nothing."""
    bucket = make_bucket(versioned=True)
    for n in range(3):
        put_version(s3_client, bucket, f"photos/{n}.jpg", b"x")
    s3_client.delete_object(Bucket=bucket, Key="photos/1.jpg")
    s3_client.delete_object(Bucket=bucket, Key="photos/only-a-marker.jpg")
    conn = connect(system(bucket, {"source": "metadata"}))

    assert conn.count("photos") == 3
