"""Issue 15, case 2: the WORM export is checked before a run changes
anything, and a segment that could not be written is owed until it is
(moto's S3 server over HTTP, a real SQLite ledger)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flows.cli import main as cli_main
from retention.errors import RetentionError
from retention.ledger import Ledger, verify_segment
from tasks.export import ExportNotReady, export_owed, preflight_export
from tests import test_sweep_s3

pytestmark = pytest.mark.s3

HASH_KEY = b"export-test-hmac-key-0123456789abcdef"


@pytest.fixture
def export_to(monkeypatch, s3_endpoint: str) -> Callable[[str], None]:
    def point(bucket: str) -> None:
        monkeypatch.setenv("RETENTION_EXPORT_BUCKET", bucket)
        monkeypatch.setenv("RETENTION_EXPORT_ENDPOINT_URL", s3_endpoint)

    return point


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch) -> Any:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("RETENTION_LEDGER_URL", url)
    opened = Ledger.open(url, keys={"k1": HASH_KEY}, current_key_id="k1")
    yield opened
    opened.close()


def a_run(ledger: Any, run_id: str) -> None:
    ledger.begin_run(
        run_id=run_id, policy_hash="abc123", policy_name="test", trigger="manual", dry_run=False
    )
    ledger.end_run(run_id=run_id, summary={"deleted": 0})


def deny_put(s3: Any, bucket: str) -> None:
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": ["s3:PutObject"],
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    }
                ],
            }
        ),
    )


def test_without_an_export_bucket_the_pre_flight_does_nothing(monkeypatch) -> None:
    monkeypatch.delenv("RETENTION_EXPORT_BUCKET", raising=False)
    preflight_export()


@pytest.mark.parametrize(
    ("bucket", "message"),
    [
        ("plain", "Object Lock"),
        ("unversioned", "versioning is not enabled"),
        ("missing", "is not reachable"),
        ("put-denied", "cannot write a locked object"),
    ],
)
def test_the_pre_flight_refuses_a_bucket_that_cannot_take_the_segment_with_exit_code_2(
    bucket: str, message: str, s3_client, make_bucket: Callable[..., str], export_to
) -> None:
    if bucket == "plain":
        name = make_bucket(versioned=True)
    elif bucket == "unversioned":
        name = make_bucket(versioned=False)
    elif bucket == "missing":
        name = "t-no-such-bucket-here"
    else:
        name = make_bucket(object_lock=True)
        deny_put(s3_client, name)
    export_to(name)

    with pytest.raises(ExportNotReady, match=message) as refused:
        preflight_export()

    assert isinstance(refused.value, RetentionError) and refused.value.exit_code == 2
    assert "nothing was changed" in str(refused.value)


def test_the_pre_flight_passes_a_versioned_object_lock_bucket(
    s3_client, make_bucket: Callable[..., str], export_to
) -> None:
    worm = make_bucket(object_lock=True)
    export_to(worm)

    preflight_export()

    head = s3_client.head_object(Bucket=worm, Key="ledger/preflight/probe")
    assert head["ObjectLockMode"] == "COMPLIANCE"  # the same kind of write as a segment


def test_a_failed_export_is_owed_reported_by_verify_and_written_by_the_next_run(
    s3_client, make_bucket: Callable[..., str], export_to, ledger, capsys
) -> None:
    worm = make_bucket(object_lock=True)
    deny_put(s3_client, worm)  # the bucket refuses after the pre-flight passed
    export_to(worm)
    a_run(ledger, "run-1")

    assert export_owed(ledger, "run-1") is None  # logged, not raised: the run's work is done
    assert ledger.unexported_runs() == ["run-1"]
    assert cli_main(["verify"]) == 1
    assert "run run-1" in capsys.readouterr().out

    s3_client.delete_bucket_policy(Bucket=worm)
    a_run(ledger, "run-2")
    assert export_owed(ledger, "run-2") == "ledger/segments/run-2.jsonl"

    assert ledger.unexported_runs() == []
    for run_id in ("run-1", "run-2"):
        body = s3_client.get_object(Bucket=worm, Key=f"ledger/segments/{run_id}.jsonl")["Body"]
        data = body.read()
        assert verify_segment(data, {"k1": HASH_KEY})
        assert {json.loads(line)["run_id"] for line in data.splitlines()} == {run_id}
    assert cli_main(["verify"]) == 0


def test_a_run_given_entries_after_its_export_is_owed_again(
    s3_client, make_bucket: Callable[..., str], export_to, ledger
) -> None:
    """Recovery completes a killed run's intents under that run's id: its
    exported segment no longer holds all its entries."""
    worm = make_bucket(object_lock=True)
    export_to(worm)
    ledger.begin_run(
        run_id="killed", policy_hash="abc123", policy_name="test", trigger="manual", dry_run=False
    )
    export_owed(ledger, "killed")
    assert ledger.unexported_runs() == []
    ledger.end_run(run_id="killed", summary={"deleted": 0})  # an entry after the export

    assert ledger.unexported_runs() == ["killed"]
    a_run(ledger, "next")
    export_owed(ledger, "next")

    assert ledger.unexported_runs() == []
    versions = s3_client.list_object_versions(Bucket=worm, Prefix="ledger/segments/killed")
    assert len(versions["Versions"]) == 2  # each copy stays, locked


def test_runs_before_the_first_export_are_not_owed(
    make_bucket: Callable[..., str], export_to, ledger, monkeypatch
) -> None:
    monkeypatch.delenv("RETENTION_EXPORT_BUCKET", raising=False)
    a_run(ledger, "before-export")
    export_to(make_bucket(object_lock=True))
    a_run(ledger, "first-exported")

    export_owed(ledger, "first-exported")

    assert ledger.unexported_runs() == []


media = test_sweep_s3.media  # the fixture: a media bucket with due, locked and kept photos


def test_a_sweep_whose_export_bucket_has_no_object_lock_changes_nothing_and_exits_2(
    media: dict[str, Any], s3_client, make_bucket: Callable[..., str], export_to, capsys
) -> None:
    """Reproduced: the sweep deleted the due photos, then failed the export."""
    export_to(make_bucket(versioned=True))  # no Object Lock
    before = test_sweep_s3.listing(s3_client, media["bucket"])

    code = cli_main(["sweep", "--policy", media["policy"], "--as-of", "2026-11-01T03:00:00+00:00"])

    assert code == 2
    assert "Object Lock" in capsys.readouterr().err
    assert test_sweep_s3.listing(s3_client, media["bucket"]) == before
