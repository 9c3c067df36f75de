"""DeleteObjects in batches of at most 1,000 (key, version) pairs, with the
per-key errors of its answer retried a bounded number of times.

A pair is only ever reported deleted when S3 did not list it among the
errors. A pair whose error the caller settles (e.g. Object Lock) is not
retried; one that still fails after the last round is reported failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

MAX_PAIRS_PER_REQUEST = 1000

Pair = tuple[str, str]  # (key, version id)


@dataclass
class DeleteOutcome:
    deleted: set[Pair] = field(default_factory=set)
    settled: dict[Pair, str] = field(default_factory=dict)  # error the caller accounted for
    failed: dict[Pair, str] = field(default_factory=dict)  # error code after the last round


def delete_pairs(
    client: Any,
    bucket: str,
    pairs: Sequence[Pair],
    *,
    settle: Callable[[Pair, str], bool],
    rounds: int = 4,
    first_pause_s: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> DeleteOutcome:
    outcome = DeleteOutcome()
    pending = list(dict.fromkeys(pairs))
    for round_no in range(rounds):
        if not pending:
            break
        if round_no:
            sleep(first_pause_s * 2 ** (round_no - 1))
        errors: dict[Pair, str] = {}
        for start in range(0, len(pending), MAX_PAIRS_PER_REQUEST):
            chunk = pending[start : start + MAX_PAIRS_PER_REQUEST]
            errors.update(_delete_chunk(client, bucket, chunk))
            outcome.deleted.update(p for p in chunk if p not in errors)
        pending = []
        for pair, code in errors.items():
            if settle(pair, code):
                outcome.settled[pair] = code
            else:
                pending.append(pair)
        outcome.failed = {p: errors[p] for p in pending}
    return outcome


def _delete_chunk(client: Any, bucket: str, chunk: list[Pair]) -> dict[Pair, str]:
    try:
        answer = client.delete_objects(
            Bucket=bucket,
            Delete={
                "Objects": [{"Key": key, "VersionId": version} for key, version in chunk],
                "Quiet": True,
            },
        )
    except ClientError as exc:
        # The whole request failed (after botocore's own retries): we cannot
        # tell what was removed, so nothing in it counts as deleted.
        code = exc.response.get("Error", {}).get("Code", "") or "request-failed"
        return {pair: code for pair in chunk}
    except BotoCoreError as exc:
        return {pair: type(exc).__name__ for pair in chunk}
    return _errors_by_pair(chunk, answer.get("Errors", []))


def _errors_by_pair(chunk: list[Pair], errors: list[dict[str, Any]]) -> dict[Pair, str]:
    """Match each error to the pairs it concerns. An error without a version
    id (some S3-compatible stores send none) counts against every version of
    its key in the request: claiming a deletion that did not happen is worse
    than repeating one that did."""
    by_key: dict[str, list[Pair]] = {}
    for pair in chunk:
        by_key.setdefault(pair[0], []).append(pair)
    out: dict[Pair, str] = {}
    for err in errors:
        key, version, code = err.get("Key", ""), err.get("VersionId"), err.get("Code") or "unknown"
        if version and (key, version) in by_key.get(key, []):
            out[(key, version)] = code
        else:
            out.update({pair: code for pair in by_key.get(key, chunk)})
    return out
