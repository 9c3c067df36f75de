"""The run's signed segment, and its write-once copy in an Object Lock bucket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from connectors.s3.ledger_export import LedgerExportError, export_segment
from retention.ledger import Entry, LedgerError, run_segment, verify_segment
from tests.test_ledger_helpers import K1, K2, RUN, open_ledger, seed


@pytest.fixture
def segment(tmp_path: Path) -> bytes:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        seed(ledger)
        seed(ledger, run_id="another-run")
        return run_segment(ledger, RUN)


def test_segment_is_the_runs_entries_then_a_signature(segment: bytes) -> None:
    lines = segment.decode().splitlines()
    entries = [Entry.from_json(json.loads(line)) for line in lines[:-1]]
    assert [e.kind for e in entries] == [
        "run-start", "intent", "completion", "intent", "completion", "kept", "intent",
        "completion", "run-end",
    ]  # fmt: skip
    assert {e.run_id for e in entries} == {RUN}
    signature = json.loads(lines[-1])
    assert signature["key_id"] == "k1" and signature["entries"] == 9
    assert verify_segment(segment, K1)


def test_any_changed_byte_fails_the_segment(segment: bytes) -> None:
    for position in (0, len(segment) // 3, len(segment) // 2, len(segment) - 20):
        changed = bytearray(segment)
        changed[position] ^= 0x01
        assert not verify_segment(bytes(changed), K1), f"byte {position} changed unnoticed"


def test_a_dropped_line_or_wrong_key_fails_the_segment(segment: bytes) -> None:
    lines = segment.splitlines(keepends=True)
    assert not verify_segment(b"".join(lines[:3] + lines[4:]), K1)
    assert not verify_segment(segment, K2)  # k1 is not among these keys
    assert not verify_segment(segment, {"k1": b"a-different-secret-entirely"})
    assert not verify_segment(b"", K1)
    assert not verify_segment(b"not json\n", K1)


def test_a_run_with_no_entries_has_no_segment(tmp_path: Path) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        seed(ledger)
        with pytest.raises(LedgerError, match="no entries of run 'never-ran'"):
            run_segment(ledger, "never-ran")


@pytest.mark.s3
def test_export_puts_a_compliance_locked_copy(segment: bytes, s3_client, make_bucket) -> None:
    bucket = make_bucket(object_lock=True)
    before = datetime.now(UTC)
    key = export_segment(s3_client, bucket, RUN, segment, retain_days=400)
    head = s3_client.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert before + timedelta(days=399) < until < before + timedelta(days=401)
    stored = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert stored == segment and verify_segment(stored, K1)
    # write once: the locked version cannot be deleted
    with pytest.raises(ClientError) as refused:
        s3_client.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.s3
def test_export_refuses_a_bucket_without_object_lock(
    segment: bytes, s3_client, make_bucket
) -> None:
    bucket = make_bucket(versioned=True, object_lock=False)
    with pytest.raises(LedgerExportError, match=f"bucket '{bucket}'"):
        export_segment(s3_client, bucket, RUN, segment, retain_days=30)
    assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket)


@pytest.mark.s3
@pytest.mark.parametrize("days", [0, -1, 1.5, True])
def test_export_refuses_a_bad_retention_period(segment: bytes, s3_client, days) -> None:
    with pytest.raises(LedgerExportError, match="retain_days"):
        export_segment(s3_client, "any-bucket", RUN, segment, retain_days=days)
