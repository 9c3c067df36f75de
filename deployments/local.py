"""`make serve`: a running Prefect UI with this project deployed, on the demo.

    .venv/bin/python deployments/local.py [--port 4200]

Starts, in this order: a Prefect server on 127.0.0.1 (its database in
.prefect/ of the project), the deploy step (deployments/deploy.py: the work
pool, every deployment of prefect.yaml, the paused-run automation), and a
process worker with the demo's environment (`retention demo --env`). Prints
the UI's address. Ctrl-C stops the worker, then the server; nothing is
paused, so the next `make serve` finds the schedules as they were.

Unless the operator made one, a notification block `retention-operators`
is made that posts to a small receiver in this process: "a run waits for
approval" messages are printed here.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployments import deploy as deploy_step  # noqa: E402
from tasks.erasure_trigger import EVENT_RETENTION_SETTING, event_retention_overrides  # noqa: E402

ROOT = deploy_step.ROOT
DEMO_BLOCK_NOTE = "retention-demo-inbox"  # marks the block this script made


class NotificationInbox:
    """A webhook receiver on 127.0.0.1: what a Custom Webhook block posts
    lands in `messages` (and is printed, if asked)."""

    def __init__(self, port: int = 0, echo: bool = False) -> None:
        self.messages: list[dict[str, str]] = []
        self.echo = echo
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    message = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    message = {}
                inbox.messages.append(message)
                if inbox.echo:
                    print(f"\n[notification] {message.get('subject', '')}\n{message.get('body')}\n")
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def webhook_block(url: str) -> object:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    return CustomWebhookNotificationBlock(  # type: ignore[call-arg]  # pydantic defaults
        name=DEMO_BLOCK_NOTE,
        url=url,
        method="POST",
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def server_env(home: Path, port: int) -> dict[str, str]:
    api = f"http://127.0.0.1:{port}/api"
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        # On a port other than 4200 the UI must be told where its API is;
        # the server needs its UI's address for links in notifications.
        "PREFECT_UI_API_URL": api,
        "PREFECT_UI_URL": f"http://127.0.0.1:{port}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The erasure-request event and the automation's record of it hold
        # the person's identities: trimmed within two hours, not seven days.
        EVENT_RETENTION_SETTING: event_retention_overrides(),
    }


def start_server(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **server_env(home, port)}
    env.pop("PREFECT_API_URL")  # the server is the API; it must not call one
    with log.open("ab") as out:
        return subprocess.Popen(
            [deploy_step.prefect_command(), "server", "start", "--host", "127.0.0.1"]
            + ["--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C reaches this script, which stops
            # the worker before the server.
            start_new_session=True,
        )


def wait_healthy(port: int, process: subprocess.Popen[bytes], within_s: float = 90) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the Prefect server on port {port} was not healthy within {within_s} s")


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # Look for scheduled runs every 5 s, not 15: a run started in the UI starts soon.
    env = {"PREFECT_WORKER_QUERY_SECONDS": "5", **env}
    with log.open("ab") as out:
        return subprocess.Popen(
            [deploy_step.prefect_command(), "worker", "start", "--pool", deploy_step.POOL],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes] | None, within_s: float = 20) -> None:
    """SIGTERM, then SIGKILL if it does not go; the process and its children."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(within_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@contextmanager
def api(url: str) -> Iterator[None]:
    """Prefect's client calls in this process go to `url`."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}):
        yield


def ensure_demo_block(name: str, inbox: NotificationInbox) -> None:
    """The demo's notification block, unless the operator made one of this name."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        existing = deploy_step.find_block(client, name)
        if existing is not None:
            document = client.read_block_document(existing)
            ours = (document.data or {}).get("name") == DEMO_BLOCK_NOTE
            if not ours:
                return
    webhook_block(inbox.url).save(name, overwrite=True)  # type: ignore[attr-defined]


def demo_environment() -> dict[str, str]:
    from flows.cli import PROJECT_ROOT
    from flows.cli import demo_environment as demo_env

    root = PROJECT_ROOT / "demo-data"
    if not (root / "crm.db").exists():
        from retention.demo.build import build_demo

        build_demo(root, as_of=datetime.now(UTC))
        print(f"demo systems built in {root}")
    return demo_env(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=4200)
    args = parser.parse_args(argv)
    home = ROOT / ".prefect"
    if port_in_use(args.port):
        print(f"error: port {args.port} is in use (a server already running?); try --port")
        return 1
    env = {**demo_environment(), **server_env(home, args.port)}
    os.environ.update(env)
    home.mkdir(exist_ok=True)
    inbox = NotificationInbox(echo=True)
    server = worker = None
    try:
        print(f"starting the Prefect server (database in {home}; log {home / 'server.log'})")
        server = start_server(home, args.port, home / "server.log")
        wait_healthy(args.port, server)
        with api(env["PREFECT_API_URL"]):
            ensure_demo_block(deploy_step.DEFAULT_NOTIFY_BLOCK, inbox)
            deploy_step.deploy(env=env)
        worker = start_worker(env, home / "worker.log")
        ui = f"http://127.0.0.1:{args.port}"
        print(
            f"\nPrefect UI: {ui}  (deployments: {ui}/deployments)\n"
            f"worker on pool {deploy_step.POOL!r} with the demo's environment "
            f"(log {home / 'worker.log'})\n"
            "start a nightly run: Deployments > retention-sweep/nightly > Run, or\n"
            f"  PREFECT_API_URL={env['PREFECT_API_URL']} .venv/bin/prefect deployment run "
            "retention-sweep/nightly\n"
            "Ctrl-C stops the worker and the server (nothing is paused)."
        )
        while server.poll() is None and worker.poll() is None:
            time.sleep(0.5)
        print("a process exited: stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping the worker and the server")
        return 0
    finally:
        stop(worker)
        stop(server)
        inbox.close()


if __name__ == "__main__":
    sys.exit(main())
