"""The demo's systems on a chosen database: built as SQLite files by
retention.demo, then (for PostgreSQL or MariaDB) copied table by table into
fresh schemas, so the same scenario runs on every dialect. Two identical
copies can be made: one for the run under test, one for the uninterrupted
reference run the oracle compares with."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import yaml

from retention.demo import schema
from retention.demo.build import build_demo, demo_env

AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
POLICY = Path(__file__).parent.parent / "deployments/id-north/policy.yaml"


@dataclass
class World:
    """One copy of the demo systems and the environment that points at it."""

    env: dict[str, str]
    crm: str
    ticketing: str

    @property
    def urls(self) -> dict[str, str]:
        return {"crm": self.crm, "ticketing": self.ticketing}


def copy_database(source: str, target: str, metadata: sa.MetaData) -> None:
    src, dst = sa.create_engine(source), sa.create_engine(target)
    try:
        metadata.create_all(dst)
        with src.connect() as read, dst.begin() as write:
            for table in metadata.sorted_tables:
                rows = [dict(r) for r in read.execute(sa.select(table)).mappings()]
                if rows:
                    write.execute(table.insert(), rows)
    finally:
        src.dispose()
        dst.dispose()


def make_world(
    root: Path, fresh_url: Callable[[], str] | None, *, scale: int = 1, ledger: str | None = None
) -> World:
    """The demo under `root`; with `fresh_url`, its databases copied to two
    fresh server databases (fresh_url() gives an empty one each call)."""
    build_demo(root, scale=scale, as_of=AS_OF)
    env = demo_env(root)
    env["RETENTION_LEDGER_URL"] = ledger or f"sqlite:///{root / 'ledger.db'}"
    if fresh_url is not None:
        for name, metadata in (("CRM", schema.crm), ("TICKETING", schema.ticketing)):
            url = fresh_url()
            copy_database(env[f"RETENTION_{name}_URL"], url, metadata)
            env[f"RETENTION_{name}_URL"] = url
    return World(env, env["RETENTION_CRM_URL"], env["RETENTION_TICKETING_URL"])


def policy_with(tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    """A copy of the demo policy with `edit` applied to its parsed form."""
    data = yaml.safe_load(POLICY.read_text())
    edit(data)
    path = tmp_path / f"policy-{len(list(tmp_path.glob('policy-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def rule_of(data: dict, rule_id: str) -> dict:
    return next(r for r in data["rules"] if r["id"] == rule_id)


def server_databases(
    fresh: Callable[[], Iterator[str]],
) -> tuple[Callable[[], str], Callable[[], None]]:
    """fresh_url() for make_world from a conftest generator, and a cleanup."""
    opened: list[Iterator[str]] = []

    def fresh_url() -> str:
        gen = fresh()
        opened.append(gen)
        return next(gen)

    def cleanup() -> None:
        for gen in opened:
            for _ in gen:
                pass

    return fresh_url, cleanup
