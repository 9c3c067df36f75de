"""Issue 15, case 3: with facts in tags or metadata, a sweep reads each
object's facts once for the plan, reuses them for the intent's identities,
and at apply reads again only what can have changed (tags change in place;
a version's metadata never does). Versions come from pages of the prefix
listing, never one listing per key. Requests are counted at the HTTP
boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from connectors.base import Prepared
from connectors.s3.connector import S3Connector
from tests import test_s3_connector
from tests.test_s3_connector import (
    DELETE,
    NOW,
    OLD,
    RECENT,
    age_rule,
    all_versions,
    system,
)

connect = test_s3_connector.connect  # the fixture, shared

pytestmark = pytest.mark.s3


def fill(s3: Any, bucket: str, source: str, n: int) -> list[str]:
    """n photos, every other one due; returns the due keys."""
    due = []
    for i in range(n):
        key = f"photos/{i:03d}.jpg"
        facts = {"captured_at": OLD if i % 2 == 0 else RECENT, "subjects": str(100 + i)}
        extra: dict[str, Any] = (
            {"Tagging": urlencode(facts)}
            if source == "tags"
            else {"Metadata": {k.replace("_", "-"): v for k, v in facts.items()}}
        )
        s3.put_object(Bucket=bucket, Key=key, Body=b"x", **extra)
        if i % 2 == 0:
            due.append(key)
    return due


def as_a_run_does(conn: S3Connector) -> tuple[list[str], list[str]]:
    """Plan (count + scan), then per batch: identities for the intent, apply."""
    conn.count("photos")
    batches = list(conn.scan(age_rule(), now=NOW))
    done: list[str] = []
    subjects: list[str] = []

    def record(prepared: Prepared) -> None:
        subjects.extend(conn.identities("photos", prepared.changes))

    for batch in batches:
        result = conn.apply("photos", DELETE, batch.due, now=NOW, rule=age_rule(), record=record)
        assert not result.failed
        done += [str(k) for k in result.done]
    return done, subjects


@pytest.mark.parametrize(
    ("source", "reads", "per_examined"),
    [
        # scan reads every object's tags; the re-check reads the due ones again
        ("tags", {"GetObjectTagging": 60 + 30}, 1.6),
        # scan reads every object's metadata; nothing at apply: same versions
        ("metadata", {"HeadObject": 60}, 1.1),
    ],
)
def test_a_sweep_reads_facts_once_and_lists_versions_by_the_page(
    source: str,
    reads: dict[str, int],
    per_examined: float,
    s3_client,
    make_bucket: Callable[..., str],
    connect,
) -> None:
    bucket = make_bucket(versioned=True)
    due = fill(s3_client, bucket, source, 60)
    media = system(bucket, {"source": source})
    photos = media.datasets["photos"].model_copy(
        update={"identity_fields": {"crm_contact_id": "subjects"}}
    )
    conn = connect(media.model_copy(update={"datasets": {"photos": photos}}), batch_size=10)

    done, subjects = as_a_run_does(conn)

    assert sorted(done) == due
    assert sorted(subjects) == sorted(str(100 + i) for i in range(0, 60, 2))
    assert set(all_versions(s3_client, bucket)) == {f"photos/{i:03d}.jpg" for i in range(1, 60, 2)}
    ops = conn.requests.by_operation
    assert {op: ops[op] for op in reads} == reads
    # One page for count, one for the scan; the apply reuses the scan's.
    assert ops["ListObjectVersions"] == 2
    assert ops["DeleteObjects"] == 3 and ops["ListMultipartUploads"] == 1
    assert conn.requests.total <= per_examined * 60


def test_a_metadata_change_after_the_plan_is_seen_by_the_re_check(
    s3_client, make_bucket: Callable[..., str], connect
) -> None:
    """Metadata is reused only while the version it was read from is still
    the newest: a new version (an edit) is read again."""
    bucket = make_bucket(versioned=True)
    s3_client.put_object(
        Bucket=bucket, Key="photos/a.jpg", Body=b"x", Metadata={"captured-at": OLD}
    )
    conn = connect(system(bucket, {"source": "metadata"}))
    [batch] = list(conn.scan(age_rule(), now=NOW))
    s3_client.put_object(
        Bucket=bucket, Key="photos/a.jpg", Body=b"y", Metadata={"captured-at": RECENT}
    )
    conn._recent.clock = lambda: 10**9  # the scan's listing has aged: list again

    result = conn.apply("photos", DELETE, batch.due, now=NOW, rule=age_rule())

    assert result.skipped == ["photos/a.jpg"] and result.done == []
    assert len(all_versions(s3_client, bucket)["photos/a.jpg"]) == 2
