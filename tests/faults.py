"""Fault injectors for the reliability suite: a TCP proxy that cuts or
refuses database connections, an HTTP proxy that makes an S3 server answer
503 SlowDown, and a real `retention` process to SIGKILL.

They stand between the pipeline and real servers (PostgreSQL, moto's S3
server); nothing of the code under test is patched.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).parent.parent


class TcpProxy:
    """127.0.0.1:<port> -> target. `cut()` drops every live connection;
    `refuse(seconds)` also closes every new one at once for that long; a
    trigger cuts at a chosen statement, mid-batch."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._live: list[tuple[socket.socket, socket.socket]] = []
        self._refuse_until = 0.0
        self._stop = threading.Event()
        self.trigger: CutAt | None = None
        self.cuts = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._accept, daemon=True, name="tcp-proxy")
        self._thread.start()

    def url(self, url: str) -> str:
        """`url` (a server URL) pointed at this proxy, unencrypted so a trigger
        can read the statements."""
        parsed = sa.make_url(url).set(host="127.0.0.1", port=self.port)
        if parsed.get_backend_name() == "postgresql":
            parsed = parsed.update_query_dict({"sslmode": "disable"})
        return parsed.render_as_string(hide_password=False)

    def cut(self) -> None:
        with self._lock:
            live, self._live = self._live, []
            self.cuts += 1
        for pair in live:
            for sock in pair:
                _close(sock)

    def refuse(self, seconds: float) -> None:
        self._refuse_until = time.monotonic() + seconds
        self.cut()

    def close(self) -> None:
        self._stop.set()
        _close(self._server)
        self.cut()

    def _fire(self) -> None:
        refuse_s = self.trigger.refuse_s if self.trigger is not None else 0.0
        if refuse_s:
            self.refuse(refuse_s)
        else:
            self.cut()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                self.refused += 1
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._live.append((client, upstream))
            threading.Thread(
                target=self._pump, args=(client, upstream), daemon=True, name="tcp-pump"
            ).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([client, upstream], [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    when = (
                        self.trigger(data, client.fileno())
                        if self.trigger and sock is client
                        else None
                    )
                    if when == "before":
                        self._fire()
                        return
                    (upstream if sock is client else client).sendall(data)
                    if when == "after":
                        time.sleep(0.2)  # the server acts on it; its answer is lost
                        self._fire()
                        return
        except (OSError, ValueError):
            return
        finally:
            _close(client)
            _close(upstream)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@dataclass
class CutAt:
    """When to cut every live connection: when a client sends `statement`
    for the `nth` time (over all connections), "before" it reaches the
    server or "after" (the server acts on it, its answer is lost: a COMMIT
    in doubt). `after_seen` first requires that text (e.g. the batch's
    UPDATE), so the cut lands inside the batch it names; with `refuse_s`,
    new connections are refused for that long too (the server went away)."""

    statement: bytes
    nth: int = 1
    when: str = "before"
    after_seen: bytes | None = None
    refuse_s: float = 0.0
    # Count only a `statement` sent on a connection whose transaction carried
    # `after_seen`: a lease heartbeat's COMMIT on another pooled connection
    # then cannot take the count and land the cut between batches.
    per_transaction: bool = False
    seen: int = 0
    armed: bool = True
    _primed: bool = field(default=False, repr=False)
    _carrying: set[int] = field(default_factory=set, repr=False)

    def __call__(self, data: bytes, connection: int = 0) -> str | None:
        if not self.armed:
            return None
        if self.after_seen is not None and self.after_seen in data:
            self._primed = True
            self._carrying.add(connection)
        if self.statement not in data or (self.after_seen is not None and not self._primed):
            return None
        if self.per_transaction:
            if connection not in self._carrying:
                return None
            self._carrying.discard(connection)
        self.seen += 1
        if self.seen < self.nth:
            return None
        self.armed = False
        return self.when


# --- S3: 503 SlowDown ----------------------------------------------------------


SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class S3Throttle:
    """An HTTP proxy before an S3 server: requests that `matches` selects are
    answered 503 SlowDown while `budget` lasts (None: for ever); everything
    else is passed through. Each request is logged (method, query, status,
    monotonic time) so a test can see the retries and their backoff."""

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self.target = (host, int(port))
        self.budget: int | None = 0
        self.matches: Callable[[str, str], bool] = lambda _method, _path: True
        self.log: list[tuple[str, str, int, float]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                return None

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy._throttle(self.command, self.path):
                    self._answer(503, {"Content-Type": "application/xml"}, SLOW_DOWN)
                    return
                upstream = http.client.HTTPConnection(*proxy.target, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                proxy._note(self.command, self.path, answer.status)
                passed = {
                    k: v
                    for k, v in answer.getheaders()
                    if k.lower() not in ("transfer-encoding", "connection", "content-length")
                }
                upstream.close()
                self._answer(answer.status, passed, data)

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._lock = threading.Lock()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _throttle(self, method: str, path: str) -> bool:
        with self._lock:
            hit = self.matches(method, path) and (self.budget is None or self.budget > 0)
            if hit and self.budget is not None:
                self.budget -= 1
        if hit:
            self._note(method, path, 503)
        return hit

    def _note(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status, time.monotonic()))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def is_delete_objects(method: str, path: str) -> bool:
    return method == "POST" and "delete" in path.partition("?")[2].split("&")


# --- a real process to kill ------------------------------------------------------


def retention_process(
    args: Sequence[str], env: dict[str, str], *, pause: str | None = None
) -> subprocess.Popen[bytes]:
    """`retention ARGS` in a new process group (so its children die with it).
    With `pause` (rule:batch:file), the process stops for good right after
    that batch's data commit, before its completion is written; other specs
    hold it for a while or until a file exists, or mark each time it finds
    the lease taken (tests/pause.py)."""
    runner = ["-m", "tests.pause", pause] if pause else ["-m", "flows.cli"]
    return subprocess.Popen(
        [sys.executable, *runner, *args],
        cwd=ROOT,
        env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def kill(proc: subprocess.Popen[bytes]) -> str:
    """SIGKILL the process and everything it started; return what it printed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    return out.decode(errors="replace")


def wait_for(check: Callable[[], bool], what: str, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def ledger_count(url: str, where: str = "1 = 1") -> int:
    """Entries in a ledger that another process is writing (0 before it exists)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM ledger_entries WHERE {where}")
                       .scalar() or 0)  # fmt: skip
    except sa.exc.DBAPIError:  # not created yet, or locked for a moment
        return 0
    finally:
        engine.dispose()
