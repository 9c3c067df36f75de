"""One applying run at a time, whoever started it: a lease row in the ledger.

A run takes the lease before it recovers or changes anything, a heartbeat
thread renews it, and the run releases it at its end. A second run finds it
taken and waits or stops with the holder's name. A holder that died stops
renewing: its lease expires after `ttl_s`, or at once when it ran on this
host and its process is gone. Only then may another run recover its intents,
so recovery never touches a live run's batches.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from retention.errors import RetentionError
from retention.ledger.store import lease, writing

DEFAULT_TTL_S = 60.0


class LeaseBusy(RetentionError):
    """Another run holds the applying lease; nothing was changed."""

    exit_code = 4


@dataclass(frozen=True)
class Taken:
    """The lease is ours; `previous` names a holder that was gone, if any."""

    run_id: str
    previous: str | None = None


def ttl_s() -> float:
    return float(os.environ.get("RETENTION_LEASE_TTL_S", DEFAULT_TTL_S))


def try_acquire(engine: sa.Engine, run_id: str, holder: str, ttl: float) -> Taken | str:
    """Take the lease for `run_id`, or return who holds it."""
    host, pid = socket.gethostname(), os.getpid()
    now = time.time()
    with writing(engine) as conn:
        row = conn.execute(sa.select(lease).where(lease.c.id == 1).with_for_update()).first()
        previous: str | None = None
        if row is None:
            conn.execute(sa.insert(lease).values(id=1))
        elif row.run_id is not None and row.run_id != run_id:
            if not _gone(row, now, host):
                left = max(0.0, (row.expires_at or now) - now)
                return f"run {row.run_id} ({row.holder}), lease renewed, expires in {left:.0f} s"
            previous = f"run {row.run_id} ({row.holder})"
        conn.execute(
            sa.update(lease)
            .where(lease.c.id == 1)
            .values(run_id=run_id, holder=holder[:200], host=host, pid=pid, expires_at=now + ttl)
        )
    return Taken(run_id, previous)


def acquire(
    engine: sa.Engine, run_id: str, holder: str, *, wait_s: float = 0.0, ttl: float | None = None
) -> Taken:
    """Take the lease, waiting up to `wait_s` for a live holder to finish."""
    ttl = ttl if ttl is not None else ttl_s()
    deadline = time.monotonic() + wait_s
    while True:
        got = try_acquire(engine, run_id, holder, ttl)
        if isinstance(got, Taken):
            return got
        if time.monotonic() >= deadline:
            raise LeaseBusy(
                f"another run is applying changes: {got}; nothing was changed. "
                "Wait for it to end (or give --wait SECONDS), then run again."
            )
        time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))


def renew(engine: sa.Engine, run_id: str, ttl: float) -> bool:
    """Extend our lease; False if it is no longer ours (it expired and was taken)."""
    with writing(engine) as conn:
        done = conn.execute(
            sa.update(lease)
            .where(lease.c.id == 1, lease.c.run_id == run_id)
            .values(expires_at=time.time() + ttl)
        )
    return bool(done.rowcount)


def release(engine: sa.Engine, run_id: str) -> None:
    with writing(engine) as conn:
        conn.execute(
            sa.update(lease)
            .where(lease.c.id == 1, lease.c.run_id == run_id)
            .values(run_id=None, holder=None, host=None, pid=None, expires_at=None)
        )


def holder(engine: sa.Engine) -> str | None:
    """Who holds a live lease now, for messages; None when it is free."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(lease).where(lease.c.id == 1)).first()
    if row is None or row.run_id is None or _gone(row, time.time(), socket.gethostname()):
        return None
    return f"run {row.run_id} ({row.holder})"


def _gone(row: sa.Row[tuple[object, ...]], now: float, host: str) -> bool:
    if row.expires_at is None or row.expires_at < now:
        return True
    return row.host == host and row.pid is not None and not _alive(int(row.pid))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) is gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class Heartbeat:
    """Renews the lease every ttl/3 seconds in a daemon thread, so a run that
    waits an hour for an operator keeps it, and a killed run loses it."""

    def __init__(self, engine: sa.Engine, run_id: str, ttl: float) -> None:
        self._engine, self._run_id, self._ttl = engine, run_id, ttl
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._beat, name="retention-lease", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            try:
                if not renew(self._engine, self._run_id, self._ttl):
                    self.lost = True
                    return
            except sa.exc.SQLAlchemyError:
                continue  # the next beat tries again; the lease lasts ttl
