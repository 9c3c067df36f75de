"""What recovery sees of an S3 batch killed half way: the store tells, per
key and per version, what the batch removed, and recovery claims exactly
that (a key a lock keeps is not claimed; its removed versions are).

The kill is simulated at the HTTP boundary: the second DeleteObjects of the
batch (the delete markers' round) never returns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from connectors.base import Prepared
from retention.ledger import Ledger
from retention.pipeline.recover import recover_unfinished
from tests import test_s3_connector
from tests.test_s3_connector import DELETE, NOW, OLD, age_rule, system

pytestmark = pytest.mark.s3

connect = test_s3_connector.connect  # the fixture, shared
CHILD = "media.photos-versions"


class Killed(BaseException):
    """The process dies: nothing after this point runs."""


def put(s3: Any, bucket: str, key: str, body: bytes, **extra: Any) -> str:
    answer = s3.put_object(
        Bucket=bucket, Key=key, Body=body, Metadata={"captured-at": OLD}, **extra
    )
    return str(answer["VersionId"])


def test_recovery_claims_exactly_what_a_killed_batch_removed(
    s3_client, make_bucket: Callable[..., str], connect, tmp_path
) -> None:
    bucket = make_bucket(object_lock=True)
    lock = {
        "ObjectLockMode": "COMPLIANCE",
        "ObjectLockRetainUntilDate": (NOW + timedelta(days=400)).replace(microsecond=0),
    }
    put(s3_client, bucket, "photos/a.jpg", b"a")  # erased whole in round one
    put(s3_client, bucket, "photos/b.jpg", b"b")
    s3_client.delete_object(Bucket=bucket, Key="photos/b.jpg")  # its marker: round two, killed
    draft = put(s3_client, bucket, "photos/c.jpg", b"draft")
    put(s3_client, bucket, "photos/c.jpg", b"final", **lock)  # a lock keeps c
    conn = connect(system(bucket, {"source": "metadata"}))
    ledger = Ledger.open(
        f"sqlite:///{tmp_path / 'ledger.db'}", keys={"k1": b"r" * 32}, current_key_id="k1"
    )
    ledger.begin_run(
        run_id="killed", policy_hash="abc123", policy_name="t", trigger="manual", dry_run=False
    )

    def record(prepared: Prepared) -> None:
        ledger.record_intent(
            run_id="killed",
            policy_hash="abc123",
            rule_id="photos_5y",
            system="media",
            dataset="photos",
            action="delete",
            keys=prepared.changes,
            cascaded=prepared.cascaded,
        )

    rounds = {"n": 0}

    def die_on_the_second_round(**_: Any) -> None:
        rounds["n"] += 1
        if rounds["n"] == 2:
            raise Killed

    conn.client.meta.events.register("before-send.s3.DeleteObjects", die_on_the_second_round)
    keys = ["photos/a.jpg", "photos/b.jpg", "photos/c.jpg"]
    with pytest.raises(Killed):
        conn.apply("photos", DELETE, keys, now=NOW, rule=age_rule(), record=record)

    assert recover_unfinished(ledger, {"media": conn}) == 1
    [completion] = [e for e in ledger.entries("killed") if e.kind == "completion"]
    # a is gone; b's data is gone but its marker stayed, so b is not claimed;
    # c keeps its locked version. The removed versions of all three are.
    assert completion.key_hashes == [ledger.hash("photos/a.jpg", key_id="k1")]
    claimed = set(completion.cascaded_hashes[CHILD])
    listed = {
        e["Key"]: e["VersionId"] for e in s3_client.list_object_versions(Bucket=bucket)["Versions"]
    }
    assert set(listed) == {"photos/c.jpg"}
    assert ledger.hash(f"photos/c.jpg?versionId={draft}", key_id="k1") in claimed
    assert (
        ledger.hash(f"photos/c.jpg?versionId={listed['photos/c.jpg']}", key_id="k1") not in claimed
    )
    assert len(claimed) == 3  # a's, b's and c's draft
    ledger.close()
