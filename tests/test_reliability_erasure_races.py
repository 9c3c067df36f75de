"""Two erasure requests for one person, started together: two real
`retention erase` processes on the demo. The first is held inside its
batch (a test-only pause point, tests/pause.py: a comment batch committed,
its completion not yet written, the lease held) until the second has
certainly found the lease taken; then it goes on.

- The same request id twice: it is acted on once. The second exits 4
  naming the holder, or (--wait) waits for the lease and then returns the
  first run's certificate without acting or writing a second request entry;
  `retention certificate` gives that same certificate afterwards.
- Two request ids for the same person: nothing is processed or claimed
  twice.

Both end with the oracle (tests/oracle.py): the final data equals a single
uninterrupted erasure's on an identical copy, every changed row is claimed
exactly once, no intent is open, the chain verifies; and a rerun finds
nothing to do. On SQLite, and on PostgreSQL for data and ledger (the lease
row locked with SELECT ... FOR UPDATE).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from retention.demo.build import DEMO_HASH_KEY
from retention.ledger import Ledger
from retention.ledger.certificate import certificate_of
from retention.pipeline.erase import ErasureRequest
from tasks.erase import run_erase
from tests.conftest import _fresh_postgres_schema
from tests.demo_world import World, make_world, policy_with, server_databases
from tests.faults import kill, retention_process, wait_for
from tests.oracle import assert_consistent, snapshots
from tests.snapshots import query
from tests.test_erasure import a_person_with_everything

pytestmark = pytest.mark.reliability

HOLD_IN = "erasure-ticketing-comments:1"  # the first batch of the person's comments


def _world(root: Path, dialect: str, cleanups: list[Callable[[], None]]) -> World:
    if dialect == "sqlite":
        return make_world(root, None)
    fresh_url, cleanup = server_databases(_fresh_postgres_schema)
    cleanups.append(cleanup)
    return make_world(root, fresh_url, ledger=fresh_url())


@pytest.fixture(scope="module")
def small_policy(tmp_path_factory) -> Path:
    # Batches of 3: the person's 19 comments take 7 batches, so the first run
    # is held with most of its work still to do.
    return policy_with(
        tmp_path_factory.mktemp("policy"), lambda d: d["settings"].update(batch_size=3)
    )


@pytest.fixture(scope="module")
def references(tmp_path_factory, small_policy) -> Iterator[Callable[[str], dict]]:
    """dialect -> the data after one uninterrupted erasure of the person, on
    an identical copy (built once per dialect)."""
    made: dict[str, dict] = {}
    cleanups: list[Callable[[], None]] = []

    def reference(dialect: str) -> dict:
        if dialect not in made:
            ref = _world(tmp_path_factory.mktemp(f"ref-{dialect}"), dialect, cleanups)
            with pytest.MonkeyPatch.context() as mp:
                for name, value in ref.env.items():
                    mp.setenv(name, value)
                email = a_person_with_everything(ref)["contact"]["email"]
                done = run_erase(
                    str(small_policy), [ErasureRequest(request_id="REF", email=[email])]
                )
            assert [c.status for c in done.certificates] == ["completed"]
            made[dialect] = snapshots(ref.urls)
        return made[dialect]

    yield reference
    for cleanup in cleanups:
        cleanup()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)  # fmt: skip
def dialect(request) -> str:
    return str(request.param)


@pytest.fixture
def run_world(tmp_path, dialect, monkeypatch) -> Iterator[World]:
    cleanups: list[Callable[[], None]] = []
    world = _world(tmp_path / "run", dialect, cleanups)
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    yield world
    for cleanup in cleanups:
        cleanup()


def ledger_of(world: World) -> Ledger:
    return Ledger.open(
        world.env["RETENTION_LEDGER_URL"], keys={"k1": DEMO_HASH_KEY.encode()}, current_key_id="k1"
    )


def erase_cli(
    world: World, policy: Path, request_id: str, email: str, *extra: str, pause: str
) -> subprocess.Popen[bytes]:
    args = ["erase", "--policy", str(policy), "--email", email, "--request-id", request_id,
            "--json", *extra]  # fmt: skip
    return retention_process(args, {**os.environ, **world.env}, pause=pause)


def certificates_in(output: str) -> list[dict[str, Any]]:
    """The JSON certificates a `retention erase --json` printed among its logs."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := output.find("{\n", at)) >= 0:
        cert, end = decoder.raw_decode(output, at)
        found.append(cert)
        at = end
    return found


@dataclass
class Ended:
    code: int | None
    output: str
    met: str = ""  # what it said each time it found the lease taken

    @property
    def certificates(self) -> list[dict[str, Any]]:
        return certificates_in(self.output)


def held_first(
    world: World, policy: Path, tmp: Path, email: str, first_id: str, others: list[tuple[str, bool]]
) -> tuple[Ended, list[Ended]]:
    """The first erasure held inside its batch while the others (request id,
    --wait?) start, until each has found its lease taken; then it goes on."""
    held, release = tmp / "held", tmp / "release"
    first = erase_cli(world, policy, first_id, email, pause=f"{HOLD_IN}:{held}@{release}")
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        wait_for(lambda: held.exists() or first.poll() is not None, "the first run", timeout=120)
        assert first.poll() is None, kill(first)
        for n, (request_id, wait) in enumerate(others):
            busy = tmp / f"busy-{n}"
            waiting = ["--wait", "120"] if wait else []
            proc = erase_cli(world, policy, request_id, email, *waiting, pause=f"busy:{busy}")
            started.append((proc, busy))
        wait_for(
            lambda: all(busy.exists() or proc.poll() is not None for proc, busy in started),
            "the others at the lease",
            timeout=120,
        )
        release.touch()
        procs = [first, *(proc for proc, _ in started)]
        outs = [proc.communicate(timeout=240)[0].decode() for proc in procs]
        ends = [Ended(proc.returncode, out) for proc, out in zip(procs, outs, strict=True)]
    finally:
        for proc in (first, *(proc for proc, _ in started)):
            if proc.poll() is None:
                kill(proc)
    for end, (_, busy) in zip(ends[1:], started, strict=True):
        end.met = busy.read_text() if busy.exists() else ""
        assert end.met, f"a second run never found the first's lease taken:\n{end.output[-3000:]}"
    return ends[0], ends[1:]


def applying_runs(world: World) -> list[str]:
    rows = query(world.env["RETENTION_LEDGER_URL"],
                 "SELECT DISTINCT run_id FROM ledger_entries WHERE kind = 'intent'")  # fmt: skip
    return [r["run_id"] for r in rows]


def request_entries(world: World) -> list[dict[str, Any]]:
    rows = query(world.env["RETENTION_LEDGER_URL"],
                 "SELECT run_id, outcome, detail FROM ledger_entries WHERE kind = 'request' "
                 "ORDER BY seq")  # fmt: skip
    return [{**r, "detail": _json(r["detail"])} for r in rows]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def judge(world: World, policy: Path, before: dict, reference: dict, email: str) -> None:
    """The oracle; then a rerun (a new request for the person) acts on nothing."""
    after = snapshots(world.urls)
    with ledger_of(world) as ledger:
        assert_consistent(ledger, before, after, reference)
        entries = len(ledger.entries())
    again = run_erase(str(policy), [ErasureRequest(request_id="AGAIN", email=[email])])
    assert again.ok, again.certificates
    assert snapshots(world.urls) == after, "the rerun changed data"
    with ledger_of(world) as ledger:
        new = ledger.entries()[entries:]
        assert not [e for e in new if e.kind in ("intent", "completion")], "the rerun acted"
        assert ledger.verify().ok


def test_the_same_request_twice_at_once_acts_once_with_one_certificate(
    run_world, dialect, tmp_path, small_policy, references
):
    """A second run of the request without --wait exits 4, one with --wait
    waits; the request is acted on once, with one certificate."""
    world = run_world
    email = a_person_with_everything(world)["contact"]["email"]
    before = snapshots(world.urls)
    first, (refused, waited) = held_first(
        world, small_policy, tmp_path, email, "REQ-1", [("REQ-1", False), ("REQ-1", True)]
    )

    assert first.code == 0, first.output[-3000:]
    [cert] = first.certificates
    assert cert["status"] == "completed" and cert["request_id"] == "REQ-1"
    [holder] = applying_runs(world)
    assert holder == cert["run_id"]
    assert f"run {holder}" in refused.met and f"run {holder}" in waited.met

    assert refused.code == 4, refused.output[-3000:]
    assert f"another run is applying changes: run {holder}" in refused.output, refused.output
    assert "nothing was changed" in refused.output and refused.certificates == []
    assert waited.code == 0, waited.output[-3000:]
    assert waited.certificates == [cert], "the waiting run returns the first certificate"

    assert [e["run_id"] for e in request_entries(world)] == [holder], "one request entry"
    with ledger_of(world) as ledger:
        entry = ledger.latest_request("REQ-1")
        assert entry is not None and json.loads(certificate_of(entry).to_json()) == cert
    judge(world, small_policy, before, references(dialect), email)
    again = run_erase(str(small_policy), [ErasureRequest(request_id="REQ-1", email=[email])])
    assert again.summary is None
    assert [json.loads(c.to_json()) for c in again.certificates] == [cert]


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_two_requests_for_one_person_at_once_process_and_claim_nothing_twice(
    run_world, dialect, tmp_path, small_policy, references
):
    """Two more request ids for the person while the first is held: one
    exits 4, one waits and then resolves the person as the first left them."""
    world = run_world
    email = a_person_with_everything(world)["contact"]["email"]
    before = snapshots(world.urls)
    first, (refused, waited) = held_first(
        world, small_policy, tmp_path, email, "REQ-A", [("REQ-B", False), ("REQ-C", True)]
    )

    assert first.code == 0, first.output[-3000:]
    [cert] = first.certificates
    assert cert["status"] == "completed"
    [holder] = applying_runs(world)
    assert refused.code == 4, refused.output[-3000:]
    assert f"another run is applying changes: run {holder}" in refused.output
    assert waited.code == 0, waited.output[-3000:]
    [second] = waited.certificates
    assert second["request_id"] == "REQ-C" and second["run_id"] != holder
    assert second["status"] in ("nothing-held", "completed"), second
    assert [e["detail"]["request_id"] for e in request_entries(world)] == ["REQ-A", "REQ-C"]
    judge(world, small_policy, before, references(dialect), email)
