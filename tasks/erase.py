"""Erasure requests from a policy file: open every system the policy names
and the ledger, act (retention.pipeline.erase), and return each request's
certificate read back from the ledger. The CLI calls it directly; the
erasure-request flow calls it with Prefect steps."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from retention.connector import Connector
from retention.ledger import Ledger
from retention.ledger.certificate import Certificate, certificate_of
from retention.ledger.lease import Heartbeat
from retention.pipeline.erase import ErasureRequest, Prepared, erase
from retention.pipeline.outcome import RunSummary
from retention.pipeline.run import Steps, SweepArgs
from retention.pipeline.subject import subject_of
from tasks.export import preflight_export
from tasks.setup import close_systems, load_checked_policy, open_ledger, open_systems
from tasks.sweep import plain_steps


@dataclass
class ErasureResult:
    summary: RunSummary | None  # None when every request was acted on before
    prepared: Prepared
    certificates: list[Certificate] = field(default_factory=list)
    previews: dict[str, dict[str, int]] = field(default_factory=dict)  # dry run: records found

    @property
    def ok(self) -> bool:
        return self.summary is None or self.summary.ok


def run_erase(
    policy: str,
    requests: Sequence[ErasureRequest],
    *,
    dry_run: bool = False,
    approved_by: str | None = None,
    run_id: str | None = None,
    trigger: str = "erasure-request",
    lease_wait_s: float = 0.0,
    steps: Steps | None = None,
    as_of: datetime | None = None,
) -> ErasureResult:
    loaded = load_checked_policy(policy)
    for request in requests:  # refused before any connection is opened
        subject_of(request.request_id, request.identities())
    connectors = open_systems(loaded, sorted(loaded.policy.systems))
    ledger: Ledger | None = None
    heartbeat: Heartbeat | None = None
    try:
        if not dry_run:
            preflight_export()
        ledger = open_ledger(loaded)
        args = SweepArgs(
            policy=loaded.policy,
            policy_hash=loaded.sha256,
            run_id=run_id or str(uuid.uuid4()),
            now=as_of or datetime.now(UTC),
            rules=[],
            dry_run=dry_run,
            approved_by=approved_by,
            trigger=trigger,
            lease_wait_s=lease_wait_s,
            steps=steps or plain_steps(),
        )
        ids = [r.request_id for r in requests]
        done = ledger.requests_done(ids)
        if dry_run:  # a dry run writes nothing, so it needs no ledger (nor its lease)
            ledger.close()
            ledger = None
        elif set(ids) - set(done):
            # What is left to do is decided under the lease: a request that
            # another run is acting on now is done when that run ends, and read
            # before, it would be acted on again (a second entry, another
            # certificate). The sweep below takes the same lease again as ours.
            heartbeat, args = _take_lease(ledger, args)
            done = ledger.requests_done(ids)
        try:
            summary, prepared = erase(
                requests, loaded.policy, loaded.sha256, connectors, ledger, args, done_before=done
            )
        finally:
            if heartbeat is not None and ledger is not None:
                heartbeat.stop()
                ledger.release_lease(args.run_id)  # the sweep's end released it already
        result = ErasureResult(summary, prepared)
        # One read of the ledger for the batch: a read per request read
        # every request entry each time (requests x entries).
        latest = ledger.latest_requests([r.request_id for r in requests]) if ledger else {}
        for request in requests:
            entry = prepared.already.get(request.request_id) or latest.get(request.request_id)
            if entry is not None:
                result.certificates.append(certificate_of(entry))
        for subject in prepared.subjects if dry_run else []:
            result.previews[subject.request_id] = {
                name: len(subject.records(name))
                for name in sorted(set(subject.direct) | set(subject.related))
            }
        return result
    finally:
        close_systems(connectors)
        if ledger is not None:
            ledger.close()


def _take_lease(ledger: Ledger, args: SweepArgs) -> tuple[Heartbeat, SweepArgs]:
    """The applying lease for this run, kept by a heartbeat while the
    requests are resolved; a takeover from a holder that was gone is
    recorded once the run has begun, where the sweep records its own."""
    holder = f"{args.trigger}, pid {os.getpid()} on {socket.gethostname()}"
    taken = ledger.acquire_lease(args.run_id, holder, wait_s=args.lease_wait_s)
    heartbeat = ledger.heartbeat(args.run_id)
    if taken.previous is None:
        return heartbeat, args
    previous, real = taken.previous, args.steps.recover
    pending = [previous]

    def recover(led: Ledger, connectors: Mapping[str, Connector]) -> int:
        while pending:
            led.record_takeover(run_id=args.run_id, previous=pending.pop())
        return real(led, connectors)

    return heartbeat, replace(args, steps=replace(args.steps, recover=recover))
