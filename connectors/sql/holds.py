"""Legal holds: which due rows a law still keeps, and until when.

A hold keeps a row if the row itself, or a row of a child dataset reached by
relations, has its clock after `period` before now. With `from_year_end` the
clock counts from the end of its calendar year (the financial year, by
default): the row is kept until `period` after 1 January of the year after
the clock. Exactly: kept iff year_end(clock) > now - period, which for a
whole year is clock >= 1 January of the cut-off's year (in settings.timezone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import sqlalchemy as sa

from connectors.base import Held, Key
from connectors.sql.clock import as_moment, kept_since, not_before, year_start
from connectors.sql.errors import SchemaMismatch
from connectors.sql.graph import Graph, Step, find_paths
from connectors.sql.keys import one_of
from connectors.sql.paths import reach
from connectors.sql.reflect import column_of
from retention.policy import Hold, Policy, Rule, split_name


@dataclass(frozen=True)
class HoldCheck:
    hold: Hold
    path: list[Step]  # from the rule's dataset down to the hold's; empty for the same


def hold_checks(graph: Graph, node: str, rule: Rule, policy: Policy | None) -> list[HoldCheck]:
    if rule.holds and policy is None:
        raise SchemaMismatch(
            f"rule {rule.id!r} names holds, but the SQL connector was opened without the policy"
        )
    checks: list[HoldCheck] = []
    for hold_id in rule.holds:
        hold = policy.hold(hold_id)  # type: ignore[union-attr]
        system, dataset = split_name(hold.dataset)
        if system != graph.system:
            raise SchemaMismatch(
                f"hold {hold.id!r} keeps {hold.dataset}, outside system {graph.system!r}"
            )
        paths = [[]] if dataset == node else find_paths(graph, node, dataset, down_only=True)
        checks += [HoldCheck(hold, path) for path in paths]
    return checks


def held_keys(
    conn: sa.Connection,
    graph: Graph,
    node: str,
    keys: Sequence[Key],
    checks: Sequence[HoldCheck],
    now: datetime,
    zone: tzinfo,
) -> dict[Key, Held]:
    """The keys among `keys` some hold keeps; the hold that keeps each longest."""
    found: dict[Key, Held] = {}
    if not keys:
        return found
    root = graph.node(node)
    for check in checks:
        query = _latest_kept_clock(conn, graph, root.table, root.key, check, now, zone, keys)
        for key, latest, unknown in conn.execute(query):
            if unknown:
                # Unknown means keep: a hold whose date is missing cannot be
                # shown to have ended.
                held = Held(key, check.hold.id, None, note=DATE_UNKNOWN)
            elif latest is not None:
                held = Held(key, check.hold.id, _until(check.hold, as_moment(latest, zone), zone))
            else:
                continue
            previous = found.get(key)
            if previous is None or _longer(held, previous):
                found[key] = held
    return found


DATE_UNKNOWN = "date unknown"


def _longer(held: Held, other: Held) -> bool:
    """Whether `held` keeps longer than `other`; no end date is the longest."""
    if other.until is None:
        return False
    return held.until is None or held.until > other.until


def _latest_kept_clock(
    conn: sa.Connection,
    graph: Graph,
    table: sa.Table,
    key: str,
    check: HoldCheck,
    now: datetime,
    zone: tzinfo,
    keys: Sequence[Key],
) -> sa.Select[Key, Any]:
    hold = check.hold
    where = f"hold {hold.id!r} on {hold.dataset}"
    if check.path:
        froms, links, last = reach(graph, table, check.path)
    else:
        last = table.alias()
        froms, links = [last], [last.c[key] == table.c[key]]
    clock = column_of(last, hold.clock, where)
    cutoff = hold.period.before(now)
    keeps = (
        not_before(clock, year_start(cutoff, zone), zone, where)
        if hold.from_year_end
        else kept_since(clock, cutoff, zone, where)
    )
    # One grouped join, not a correlated subquery per key: on a schema with
    # no index on the link column (SQLite's demo, many third-party schemas)
    # each subquery scanned the whole child table, so the plan of 30,000
    # keys took seconds; a join lets SQLite build an automatic index and
    # PostgreSQL hash the children once. A key with no reachable row gives
    # no row, as its NULL latest and false unknown did.
    latest = sa.func.max(sa.case((keeps, clock), else_=None))
    unknown = sa.func.max(sa.case((clock.is_(None), 1), else_=0))
    return (
        sa.select(table.c[key], latest.label("latest"), unknown.label("unknown"))
        .select_from(table, *froms)
        .where(one_of(conn, table.c[key], keys), *links)
        .group_by(table.c[key])
    )


def _until(hold: Hold, latest: datetime, zone: tzinfo) -> datetime:
    if hold.from_year_end:
        latest = datetime(latest.astimezone(zone).year + 1, 1, 1, tzinfo=zone)
    return hold.period.after(latest)
