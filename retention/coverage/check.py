"""Compare what the stores hold with what the policy declares.

The inventory (tables, columns and a bounded sample of text values; media
prefixes) comes from the connectors; this module only judges it, so the
judgement is tested without a database."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from retention.coverage.findings import CoverageReport, Finding
from retention.coverage.looks import name_kinds, value_kinds
from retention.policy import Policy, System


@dataclass
class TableInventory:
    name: str
    columns: list[str]
    text_columns: set[str] = field(default_factory=set)  # worth sampling


# (table, column) -> up to the bound of its non-empty values, read on demand
Sampler = Callable[[str, str], Sequence[str]]


def sql_findings(
    name: str,
    system: System,
    tables: Sequence[TableInventory],
    sample: Sampler,
    policy: Policy | None = None,
) -> list[Finding]:
    declared = _declared(system)
    for bare, named in _fact_index_columns(policy, name).items():
        declared.setdefault(bare, set()).update(named)
    whole, columns = _reviewed(system)
    found: list[Finding] = []
    for table in tables:
        if table.name not in declared:
            found.append(_undeclared_table(name, table, whole, sample))
            continue
        for column in table.columns:
            if column in declared[table.name]:
                continue
            reviewed = columns.get((table.name, column))
            # A reviewed column is not read again: a person already decided.
            personal = _personal(table, column, sample if reviewed is None else None)
            found.append(Finding(name, "column", table.name, column, personal, reviewed))
    return found


def _declared(system: System) -> dict[str, set[str]]:
    """Table -> the columns the policy describes: a dataset's own, and those
    its relations name (a link column, a discriminator, a link table's
    two columns: the policy knows what they hold)."""
    declared: dict[str, set[str]] = {}
    for ds in system.datasets.values():
        if ds.table is not None:
            declared.setdefault(_bare(ds.table), set()).update(ds.declared_columns())
    for ds in system.datasets.values():
        for rel in ds.relations:
            child = system.datasets.get(rel.child)
            if child is not None and child.table is not None:
                named = {rel.column} if rel.column else set()
                declared.setdefault(_bare(child.table), set()).update(
                    named | set(rel.discriminator)
                )
            if rel.through is not None:
                link = {rel.through.parent_column, rel.through.child_column}
                declared.setdefault(_bare(rel.through.table), set()).update(link)
    return declared


def _fact_index_columns(policy: Policy | None, system_name: str) -> dict[str, set[str]]:
    """Columns of this system's fact index tables that media datasets read:
    the key column and each fact's column (its name, unless `names` maps it)."""
    out: dict[str, set[str]] = {}
    if policy is None:
        return out
    for system in policy.systems.values():
        for media in system.datasets.values():
            facts = media.facts
            if facts is None or facts.index is None:
                continue
            owner, dataset = facts.index.split(".", 1)
            index = policy.systems.get(owner)
            found = index.datasets.get(dataset) if index is not None else None
            if owner != system_name or found is None or found.table is None:
                continue
            wanted = set(media.columns) | set(media.identity_fields.values()) | set(facts.names)
            named = {facts.index_key} | {facts.names.get(f, f) for f in wanted}
            out.setdefault(_bare(found.table), set()).update(named)
    return out


def _undeclared_table(
    name: str, table: TableInventory, whole: Mapping[str, str], sample: Sampler
) -> Finding:
    reviewed = whole.get(table.name)
    personal: list[str] = []
    for column in table.columns:
        kinds = _personal(table, column, sample if reviewed is None else None)
        personal += [f"{k} in {column}" for k in kinds]
    return Finding(name, "table", table.name, None, tuple(personal), reviewed)


def _personal(table: TableInventory, column: str, sample: Sampler | None) -> tuple[str, ...]:
    kinds = [f"{k} (name)" for k in name_kinds(column)]
    if sample is not None and column in table.text_columns:
        kinds += [f"{k} (values)" for k in value_kinds(sample(table.name, column))]
    return tuple(kinds)


def media_findings(name: str, system: System, prefixes: Sequence[str]) -> list[Finding]:
    """Top-level prefixes (and `""` for keys at the root) no dataset covers.
    Everything in a store of photos and recordings is personal until
    reviewed: a prefix nobody declared fails the check."""
    covered = [ds.prefix for ds in system.datasets.values() if ds.prefix is not None]
    whole, _ = _reviewed(system)
    found = []
    for prefix in prefixes:
        if any(c.startswith(prefix) or prefix.startswith(c) for c in covered if prefix):
            continue
        shown = prefix or "(keys at the root)"
        found.append(Finding(name, "prefix", shown, None, ("media",), whole.get(prefix)))
    return found


def _reviewed(system: System) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    whole: dict[str, str] = {}
    columns: dict[tuple[str, str], str] = {}
    for entry in system.reviewed:
        place = _bare(entry.table) if entry.table is not None else entry.prefix or ""
        if not entry.columns:
            whole[place] = entry.reason
        for column in entry.columns:
            columns[(place, column)] = entry.reason
    return whole, columns


def _bare(table: str) -> str:
    return table.rpartition(".")[2]


def report_of(policy: Policy, findings: Sequence[Finding], sample_rows: int) -> CoverageReport:
    return CoverageReport(
        policy.name,
        sorted(findings, key=lambda f: (f.system, f.table, f.column or "")),
        sorted(policy.systems),
        sample_rows,
    )
