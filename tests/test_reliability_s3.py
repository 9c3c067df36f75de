"""An object store that fails: a proxy before moto's S3 server answers 503
SlowDown. For a while: botocore retries with backoff and the run succeeds.
Past the retry budget: the photos are failed items in the run and in the
ledger's completion, nothing is claimed, every version is still there, and
the next run completes. Judged by the oracle over the bucket's listing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from retention.ledger import Ledger
from tasks.sweep import run_sweep
from tests.faults import S3Throttle, is_delete_objects
from tests.oracle import assert_consistent, bucket_snapshot

pytestmark = [pytest.mark.reliability, pytest.mark.s3]

AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
HASH_KEY = "s3-reliability-hmac-key-0123456789abcdef"
DUE, KEPT = 12, 4

POLICY = """\
version: 1
name: s3-reliability
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
    max_attempts: {attempts}
    datasets:
      photos:
        prefix: photos/
        facts:
          source: metadata
          names: {{captured_at: captured-at}}
        columns: [captured_at]
rules:
  - id: photos-five-years
    clause: Photo material is kept for 5 years from the moment it was taken.
    why: Photos older than five years are erased.
    dataset: media.photos
    due: {{clock: captured_at, after: P5Y}}
    action: {{kind: delete}}
"""


@dataclass
class Store:
    client: Any
    bucket: str
    throttle: S3Throttle
    ledger: str
    tmp: Path

    def snapshot(self) -> dict:
        return {"media": bucket_snapshot(self.client, self.bucket, "photos/", "photos")}

    def sweep(self, attempts: int) -> Any:
        policy = self.tmp / f"policy-{attempts}.yaml"
        policy.write_text(POLICY.format(bucket=self.bucket, attempts=attempts))
        return run_sweep(str(policy), as_of=AS_OF)

    def open_ledger(self) -> Ledger:
        return Ledger.open(self.ledger, keys={"k1": HASH_KEY.encode()}, current_key_id="k1")


@pytest.fixture
def store(tmp_path, monkeypatch, s3_client, s3_endpoint, make_bucket) -> Iterator[Store]:
    bucket = make_bucket()
    for n in range(DUE + KEPT):
        captured = "2019-06-01T10:00:00+00:00" if n < DUE else "2024-03-01T10:00:00+00:00"
        for version in range(2):
            s3_client.put_object(
                Bucket=bucket,
                Key=f"photos/p{n:03}.jpg",
                Body=b"photo %d v%d" % (n, version),
                Metadata={"captured-at": captured},
            )
    throttle = S3Throttle(s3_endpoint)
    throttle.matches = is_delete_objects
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("RETENTION_MEDIA_ENDPOINT", throttle.endpoint)
    monkeypatch.setenv("RETENTION_HASH_KEY", HASH_KEY)
    monkeypatch.setenv("RETENTION_LEDGER_URL", ledger)
    yield Store(s3_client, bucket, throttle, ledger, tmp_path)
    throttle.close()


def test_slow_down_for_a_while_is_retried_with_backoff_then_succeeds(store):
    before = store.snapshot()
    store.throttle.budget = 2  # the first two DeleteObjects answers

    summary = store.sweep(attempts=3)

    assert summary.status == "completed", summary.reason()
    assert summary.outcomes[0].deleted == DUE
    deletes = [(status, at) for method, path, status, at in store.throttle.log
               if is_delete_objects(method, path)]  # fmt: skip
    assert [status for status, _ in deletes[:3]] == [503, 503, 200]
    gaps = [b[1] - a[1] for a, b in zip(deletes, deletes[1:3], strict=False)]
    assert all(gap > 0 for gap in gaps), "botocore waits between attempts"
    after = store.snapshot()
    assert len(after["media"]["photos"]) == KEPT
    with store.open_ledger() as ledger:
        assert_consistent(ledger, before, after)


def test_past_the_retry_budget_the_photos_are_failed_items_never_claimed(store):
    before = store.snapshot()
    store.throttle.budget = None  # DeleteObjects answers 503 for as long as this run lasts

    summary = store.sweep(attempts=2)

    outcome = summary.outcomes[0]
    assert summary.status == "failed"
    assert (outcome.deleted, outcome.failed, outcome.status) == (0, DUE, "failed")
    assert all("SlowDown" in reason for reason in outcome.failures)
    assert store.snapshot() == before, "every version of every photo is still there"
    with store.open_ledger() as ledger:
        [completion] = [e for e in ledger.entries() if e.kind == "completion"]
        assert len(completion.failed) == DUE and all(
            "SlowDown" in f.code for f in completion.failed
        )
        assert completion.key_hashes == [] and completion.cascaded_hashes == {}
        assert_consistent(ledger, before, store.snapshot())  # nothing claimed

    store.throttle.budget = 0
    again = store.sweep(attempts=2)
    assert again.status == "completed" and again.outcomes[0].deleted == DUE, again.reason()
    with store.open_ledger() as ledger:
        assert_consistent(ledger, before, store.snapshot())
