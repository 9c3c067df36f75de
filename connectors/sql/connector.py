"""The SQL connector: SQLite, PostgreSQL and MariaDB through SQLAlchemy Core.

    connector = open_sql_connector("crm", system, url, hash_key=key, policy=policy)

Scans page through the primary key (keyset pagination, `batch_size` keys a
page, a fresh connection per page so nothing is held open while the caller
works); each apply() is one transaction that re-checks what it is about to
change. Relations come from the policy and from real foreign keys
(sql_graph); holds from the policy (sql_holds). Nothing here knows Prefect.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from connectors.base import ApplyResult, Key, Prepared, RecordIntent, ScanBatch
from connectors.sql.anonymise import Anonymiser, anonymise_batch, canonical_image
from connectors.sql.conditions import condition_clauses, due_clauses, undated_clauses
from connectors.sql.delete import IN_LIST_SIZE, delete_tree
from connectors.sql.errors import ConditionError, SchemaMismatch
from connectors.sql.graph import Graph, build_graph, check_acyclic
from connectors.sql.holds import HoldCheck, held_keys, hold_checks
from connectors.sql.keys import one_of
from connectors.sql.preflight import preflight
from connectors.sql.reflect import Catalog, column_of
from connectors.sql.related import (
    mention_candidates,
    related_by_owner,
    related_records,
    subject_records,
)
from connectors.sql.subject import find_subject_keys
from connectors.sql.values import chunked, coerce
from retention.errors import ConnectionFailed, RetentionError
from retention.identity import validate as validate_identities
from retention.logs import get_logger
from retention.policy import Action, Condition, Policy, Rule, Scalar, System

log = get_logger("connectors.sql")
WRITE_LOCK = "retention_write_lock"  # execution option: take the write lock at BEGIN


@dataclass
class SqlConnector:
    name: str
    system: System
    engine: sa.Engine
    hash_key: bytes = field(repr=False)
    batch_size: int = 500
    policy: Policy | None = None
    zone: tzinfo = ZoneInfo("UTC")
    _graph: Graph | None = field(default=None, repr=False)

    # --- protocol ---------------------------------------------------------

    def check(self) -> None:
        with self._reachable(), self.engine.connect() as conn:
            conn.execute(sa.select(sa.literal(1)))
        with self._reachable():  # every declared table, column, type and relation, or refuse
            preflight(self.name, self.system, self.policy, self.engine)
        self.graph()

    def count(self, dataset: str) -> int:
        node = self.graph().node(dataset)
        with self._reachable(), self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(node.table)
            return int(conn.execute(query).scalar_one())

    def identities(self, dataset: str, keys: Sequence[Key]) -> list[str]:
        if not keys:
            return []
        with self._reachable(), self.engine.connect() as conn:
            return self._identities_in(conn, dataset, self._keys(dataset, keys))

    def _identities_in(self, conn: sa.Connection, dataset: str, keys: Sequence[Key]) -> list[str]:
        columns = self._identity_columns(dataset)
        if not columns or not keys:
            return []
        node = self.graph().node(dataset)
        key = node.table.c[node.key]
        found: set[str] = set()
        for part in chunked(keys, IN_LIST_SIZE):
            for row in conn.execute(sa.select(*columns).where(one_of(conn, key, part))):
                found.update(_texts(row))
        return sorted(found)

    def _identity_columns(self, dataset: str) -> list[sa.ColumnElement[Any]]:
        graph = self.graph()
        node = graph.node(dataset)
        fields = self.system.datasets[dataset].identity_fields.values()
        return [column_of(node.table, c, graph.qualified(dataset)) for c in dict.fromkeys(fields)]

    def keys(self, dataset: str) -> Iterator[list[Key]]:
        node = self.graph().node(self._own_dataset(f"{self.name}.{dataset}"))
        key = node.table.c[node.key]
        last: Key | None = None
        while True:
            query = sa.select(key).order_by(key).limit(self.batch_size)
            if last is not None:
                query = query.where(key > last)
            with self._reachable(), self.engine.connect() as conn:
                page = list(conn.execute(query).scalars())
            if page:
                yield page
            if len(page) < self.batch_size:
                return
            last = page[-1]

    def images(self, dataset: str, columns: Sequence[str]) -> Iterator[list[tuple[Key, str]]]:
        node = self.graph().node(self._own_dataset(f"{self.name}.{dataset}"))
        key = node.table.c[node.key]
        where = self.graph().qualified(node.name)
        wanted = [column_of(node.table, c, where) for c in sorted(columns)]
        last: Key | None = None
        while True:
            query = sa.select(key, *wanted).order_by(key).limit(self.batch_size)
            if last is not None:
                query = query.where(key > last)
            with self._reachable(), self.engine.connect() as conn:
                page = [(row[0], canonical_image(row[1:])) for row in conn.execute(query)]
            if page:
                yield page
            if len(page) < self.batch_size:
                return
            last = page[-1][0]

    def scan(self, rule: Rule, *, now: datetime) -> Iterator[ScanBatch]:
        graph = self.graph()
        dataset = self._own_dataset(rule.dataset)
        node = graph.node(dataset)
        key = node.table.c[node.key]
        # Built before the first query: a bad condition fails before anything runs.
        due = due_clauses(graph, dataset, node.table, rule.due, now, self.zone)
        holds = hold_checks(graph, dataset, rule, self.policy)
        last: Key | None = None
        while True:
            started = time.monotonic()
            query = sa.select(key).where(*due).order_by(key).limit(self.batch_size)
            if last is not None:
                query = query.where(key > last)
            with self._reachable(), self.engine.connect() as conn:
                keys = list(conn.execute(query).scalars())
                held = held_keys(conn, graph, dataset, keys, holds, now, self.zone)
            if not keys:
                break
            batch = ScanBatch(
                rule.dataset, due=[k for k in keys if k not in held], held=list(held.values())
            )
            _log_rate(
                "scan page",
                started,
                rule=rule.id,
                dataset=rule.dataset,
                rows_seen=len(keys),
                rows_due=len(batch.due),
                rows_held=len(batch.held),
            )
            yield batch
            if len(keys) < self.batch_size:
                break
            last = keys[-1]
        undated = undated_clauses(graph, dataset, node.table, rule.due)
        if undated:
            with self._reachable(), self.engine.connect() as conn:
                count = sa.select(sa.func.count()).select_from(node.table).where(*undated)
                missing = int(conn.execute(count).scalar_one())
            if missing:
                log.warning("clock unknown", rule=rule.id, dataset=rule.dataset, rows=missing)
                yield ScanBatch(rule.dataset, undated=missing)

    def subject_values(self, dataset: str, column: str, where: Sequence[Condition]) -> set[Scalar]:
        graph = self.graph()
        node = graph.node(dataset)
        target = column_of(node.table, column, graph.qualified(dataset))
        query = (
            sa.select(target)
            .distinct()
            .where(target.is_not(None), *condition_clauses(graph, dataset, node.table, where))
        )
        with self._reachable(), self.engine.connect() as conn:
            rows = conn.execution_options(yield_per=self.batch_size).execute(query)
            return set(rows.scalars())

    def apply(
        self,
        dataset: str,
        action: Action,
        keys: Sequence[Key],
        *,
        now: datetime,
        rule: Rule | None = None,
        record: RecordIntent | None = None,
    ) -> ApplyResult:
        started = time.monotonic()
        graph = self.graph()
        qualified = graph.qualified(graph.node(dataset).name)
        if rule is not None and rule.dataset != qualified:
            raise ConditionError(f"rule {rule.id!r} is for {rule.dataset}, not {qualified}")
        wanted = self._keys(dataset, keys)
        if action.kind == "delete":
            check_acyclic(graph, dataset)
        anonymiser = self._anonymiser(dataset, action) if action.kind == "anonymise" else None
        result = ApplyResult()
        prepared = Prepared()
        with self._reachable(writing=True), self._writing() as conn:
            # Re-check, change, tell the ledger, commit: all in one write
            # transaction, so what the intent names is exactly what commits.
            # The identities the intent names are read by the re-check itself.
            identities: dict[Key, list[str]] | None = {} if record is not None else None
            eligible = self._eligible(conn, dataset, wanted, action, rule, now, identities)
            chosen = set(eligible)
            result.skipped = [k for k in wanted if k not in chosen]
            if identities is not None and eligible:
                prepared.subjects = sorted({v for k in eligible for v in identities.get(k, ())})
            if anonymiser is None:
                delete_tree(conn, graph, dataset, eligible, result.cascaded, result.detached)
                result.done = eligible
            else:
                result.done, unchanged, prepared.images = anonymise_batch(
                    conn, graph, dataset, eligible, anonymiser, action.fields
                )
                result.skipped += unchanged
            prepared.changes = list(result.done)
            prepared.cascaded = result.cascaded
            prepared.detached = result.detached
            if record is not None and (prepared.changes or prepared.cascaded):
                record(prepared)
        detached = sum(len(v) for v in result.detached.values())
        _log_rate(
            "sql batch applied",
            started,
            system=self.name,
            dataset=qualified,
            action=action.kind,
            rows_seen=len(wanted),
            rows_done=len(result.done),
            rows_skipped=len(result.skipped),
            rows_cascaded=sum(len(v) for v in result.cascaded.values()),
            rows_detached=detached,
            rows_changed=len(result.done) + sum(len(v) for v in result.cascaded.values()),
        )
        return result

    def find_subject(self, identities: Mapping[str, Sequence[str]]) -> dict[str, list[Key]]:
        identities = validate_identities(identities)  # before any query: never match everyone
        graph = self.graph()
        with self._reachable(), self.engine.connect() as conn:
            found = find_subject_keys(conn, graph, self.system, identities)
        log.info(
            "subject looked up",
            system=self.name,
            datasets=len(found),
            rows_found=sum(len(v) for v in found.values()),
        )
        return found

    def subject_records(
        self, identities: Mapping[str, Sequence[str]]
    ) -> dict[str, dict[Key, list[tuple[str, str]]]]:
        """Records holding one of these identities, with every identity each holds."""
        identities = validate_identities(identities)  # before any query: never match everyone
        with self._reachable(), self.engine.connect() as conn:
            return subject_records(conn, self.graph(), self.system, identities)

    def related(self, dataset: str, keys: Sequence[Key]) -> dict[str, list[Key]]:
        """Records below these by relations, per dataset."""
        if not keys:
            return {}
        with self._reachable(), self.engine.connect() as conn:
            return related_records(conn, self.graph(), dataset, self._keys(dataset, keys))

    def related_by_owner(
        self, dataset: str, owners: Mapping[Key, set[str]]
    ) -> dict[str, dict[Key, set[str]]] | None:
        """`related` for many owners' records at once (None: ask per owner)."""
        if not owners:
            return {}
        owned: dict[Key, set[str]] = {}
        for key, who in owners.items():
            owned.setdefault(self._keys(dataset, [key])[0], set()).update(who)
        with self._reachable(), self.engine.connect() as conn:
            return related_by_owner(conn, self.graph(), dataset, owned)

    def find_mentions(
        self,
        dataset: str,
        columns: Sequence[str],
        needles: Sequence[str],
        mentions: Callable[[str], bool] | None = None,
    ) -> list[Key]:
        """Rows whose free-text columns mention one of `needles`."""
        with self._reachable(), self.engine.connect() as conn:
            return mention_candidates(conn, self.graph(), dataset, columns, needles, mentions)

    def close(self) -> None:
        self.engine.dispose()

    # --- helpers ----------------------------------------------------------

    def graph(self) -> Graph:
        if self._graph is None:
            with self._reachable():
                self._graph = build_graph(self.name, self.system, Catalog(self.engine, self.name))
        return self._graph

    def _own_dataset(self, qualified: str) -> str:
        system, _, dataset = qualified.partition(".")
        if system != self.name:
            raise SchemaMismatch(f"{qualified} is not a dataset of system {self.name!r}")
        return dataset

    def _keys(self, dataset: str, keys: Sequence[Key]) -> list[Key]:
        node = self.graph().node(dataset)
        column = node.table.c[node.key]
        where = f"{self.graph().qualified(dataset)}: key"
        return list(dict.fromkeys(coerce(k, column, where) for k in keys))

    def _eligible(
        self,
        conn: sa.Connection,
        dataset: str,
        keys: Sequence[Key],
        action: Action,
        rule: Rule | None,
        now: datetime,
        identities: dict[Key, list[str]] | None = None,
    ) -> list[Key]:
        """The keys that exist and, with a rule, are still due and held or not as the action
        needs; locked (FOR UPDATE where the dialect has it) until the transaction ends.
        Given `identities`, it is filled with each present row's identity values."""
        graph = self.graph()
        node = graph.node(dataset)
        key = node.table.c[node.key]
        clauses = due_clauses(graph, dataset, node.table, rule.due, now, self.zone) if rule else []
        extra = self._identity_columns(dataset) if identities is not None else []
        present: list[Key] = []
        for part in chunked(keys, IN_LIST_SIZE):
            query = sa.select(key, *extra).where(one_of(conn, key, part), *clauses)
            for row in conn.execute(query.with_for_update()):
                present.append(row[0])
                if identities is not None and len(row) > 1:
                    identities[row[0]] = _texts(row[1:])
        checks: list[HoldCheck] = hold_checks(graph, dataset, rule, self.policy) if rule else []
        if not checks:
            return present
        held = held_keys(conn, graph, dataset, present, checks, now, self.zone)
        # The rule's held_action acts on held rows only; every other action on rows not held.
        want_held = (
            rule is not None
            and rule.held_action is not None
            and action == rule.held_action
            and action != rule.action
        )
        return [k for k in present if (k in held) == want_held]

    def _anonymiser(self, dataset: str, action: Action) -> Anonymiser:
        try:
            from retention.anonymise import build_anonymiser
        except ImportError as exc:
            raise RetentionError(
                "anonymisation is not available: retention.anonymise.build_anonymiser is missing"
            ) from exc
        node = self.graph().node(dataset)
        anonymiser: Anonymiser = build_anonymiser(
            action.fields, hash_key=self.hash_key, primary_key=node.key
        )
        return anonymiser

    @contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        """A transaction that holds the write lock from its first statement
        (SQLite: BEGIN IMMEDIATE; elsewhere FOR UPDATE locks the rows read)."""
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_LOCK: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _reachable(self, *, writing: bool = False) -> Iterator[None]:
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            # A connection lost while a batch commits may have lost only the
            # reply: say so, rather than claim nothing changed.
            outcome = (
                "the batch either rolled back or committed; recovery claims exactly what committed"
                if writing
                else "nothing was changed"
            )
            raise ConnectionFailed(
                f"system {self.name!r}: the database failed or cannot be reached "
                f"({_reason(exc, self.engine.url.password)}); {outcome}"
            ) from exc


def _texts(values: Sequence[Any]) -> list[str]:
    """An identity row's values as the ledger hashes them: trimmed, none empty."""
    return [str(v).strip() for v in values if v is not None and str(v).strip()]


def open_sql_connector(
    name: str,
    system: System,
    url: str,
    *,
    hash_key: bytes,
    batch_size: int = 500,
    policy: Policy | None = None,
) -> SqlConnector:
    """A connector for `system`; no connection is made until first use (see check())."""
    if not url:
        raise ConnectionFailed(f"system {name!r}: no connection URL is configured")
    try:
        parsed = sa.make_url(url)
        engine = sa.create_engine(parsed)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        # The message would quote the URL, password and all: name only the kind of problem.
        raise ConnectionFailed(
            f"system {name!r}: the connection URL is not usable ({type(exc).__name__})"
        ) from exc
    if engine.dialect.name == "sqlite":
        _sqlite_setup(name, engine)
    zone = ZoneInfo(policy.settings.timezone) if policy else ZoneInfo("UTC")
    return SqlConnector(name, system, engine, hash_key, batch_size, policy, zone)


def _sqlite_setup(name: str, engine: sa.Engine) -> None:
    database = engine.url.database or ""
    on_disk = database and database != ":memory:" and not database.startswith("file:")
    if on_disk and not os.path.exists(database):
        # SQLite would create an empty file and every table would seem missing.
        raise ConnectionFailed(f"system {name!r}: the SQLite database file does not exist")

    @sa.event.listens_for(engine, "connect")
    def _enforce_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy, not the sqlite3 module, decides when and how BEGIN is sent.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Off by default in SQLite; on, it checks our children-first order as the servers do.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # The re-check and the write share one write lock: another writer
        # cannot change a row between the two.
        immediate = conn.get_execution_options().get(WRITE_LOCK)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _reason(exc: sa.exc.DBAPIError, password: str | None) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
    if password:
        text = text.replace(password, "***")
    return f"{type(exc.orig).__name__}: {text}" if text else type(exc).__name__


def _log_rate(event: str, started: float, **counts: Any) -> None:
    seconds = max(time.monotonic() - started, 1e-9)
    rows = counts.get("rows_changed", counts.get("rows_seen", 0))
    # Debug: the pipeline logs each batch at info with its rule and progress.
    log.debug(event, **counts, seconds=round(seconds, 4), rows_per_s=round(rows / seconds, 1))
