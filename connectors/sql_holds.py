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
from connectors.sql_clock import as_moment, kept_since, not_before, year_start
from connectors.sql_errors import SchemaMismatch
from connectors.sql_graph import Graph, Step, find_paths
from connectors.sql_keys import one_of
from connectors.sql_paths import reach
from connectors.sql_reflect import column_of
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
        for key, latest in conn.execute(query):
            if latest is None:
                continue
            held = Held(key, check.hold.id, _until(check.hold, as_moment(latest, zone), zone))
            previous = found.get(key)
            if previous is None or (held.until or now) > (previous.until or now):
                found[key] = held
    return found


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
    latest = sa.select(sa.func.max(clock)).select_from(*froms).where(*links, keeps)
    return sa.select(table.c[key], latest.scalar_subquery().label("latest")).where(
        one_of(conn, table.c[key], keys)
    )


def _until(hold: Hold, latest: datetime, zone: tzinfo) -> datetime:
    if hold.from_year_end:
        latest = datetime(latest.astimezone(zone).year + 1, 1, 1, tzinfo=zone)
    return hold.period.after(latest)
