"""Shared fixtures: real databases, moto's S3 server, Prefect's test harness.

PostgreSQL and MariaDB are found through TEST_POSTGRES_URL and TEST_MYSQL_URL.
Outside CI a server that is down skips its tests (and says so); with CI=true
it fails them, because CI must exercise the real thing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-north-1")


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if IN_CI:
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(f"{message}; set {what.upper()}_URL or start it to run these tests")


def _fresh_postgres_schema() -> Iterator[str]:
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        _unavailable("test_postgres", exc)
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _fresh_mysql_database() -> Iterator[str]:
    admin = sa.create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
    database = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        _unavailable("test_mysql", exc)
    url = sa.make_url(MYSQL_URL).set(database=database).update_query_dict({"charset": "utf8mb4"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE `{database}`"))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _fresh_postgres_schema()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    yield from _fresh_mysql_database()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def db_url(request, tmp_path) -> Iterator[str]:
    """An empty database (SQLite file, PostgreSQL schema, MariaDB database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
    elif request.param == "postgres":
        yield from _fresh_postgres_schema()
    else:
        yield from _fresh_mysql_database()


# --- S3 ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, a real HTTP server on 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_endpoint):
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-north-1")


@pytest.fixture
def make_bucket(s3_client) -> Callable[..., str]:
    """make_bucket(versioned=True, object_lock=False) -> a new bucket's name."""

    def make(versioned: bool = True, object_lock: bool = False) -> str:
        name = f"t-{uuid.uuid4().hex[:16]}"
        kwargs: dict = {
            "Bucket": name,
            "CreateBucketConfiguration": {"LocationConstraint": "eu-north-1"},
        }
        if object_lock:
            kwargs["ObjectLockEnabledForBucket"] = True
        s3_client.create_bucket(**kwargs)
        if versioned and not object_lock:
            s3_client.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": "Enabled"}
            )
        return name

    return make


# --- Prefect -----------------------------------------------------------------


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory) -> Iterator[None]:
    """One temporary Prefect API for the whole session (about 10 s)."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=60),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def world(request, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The demo's systems on each dialect, its environment set (tests/demo_world.py)."""
    from tests.demo_world import make_world, server_databases

    fresh = {"postgres": _fresh_postgres_schema, "mysql": _fresh_mysql_database}
    cleanup = None
    if request.param == "sqlite":
        made = make_world(tmp_path / "run", None)
    else:
        fresh_url, cleanup = server_databases(fresh[request.param])
        made = make_world(tmp_path / "run", fresh_url)
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    yield made
    if cleanup is not None:
        cleanup()
