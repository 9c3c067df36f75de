"""Which rule must run before which, derived from what each rule reads and
what each rule writes (DESIGN.md, safety property 11).

A rule R finds its records through columns and rows: its clock and
conditions, the rows its `related:` conditions reach, the subjects another
dataset names, the rows its holds look at, the parent columns its redaction
reads. A rule W that changes one of those columns, or removes rows R reads in
another dataset, can make R's records look no longer due before R has acted
on them: personal data then stays for good while every later run finds
nothing. So W must follow R: it runs only after R completed in the same run.

Two rules on the same dataset whose own equality conditions on one column
cannot both hold (relationship_status `prospect` vs `former`) never touch the
same rows, so they do not order each other. Rows removed from a rule's own
dataset are no harm to it: a removed record holds no personal data.

Relations the database declares itself (reflected foreign keys) are not in
the policy, so this offline analysis sees only the relations the policy
declares; describe a link in the policy to have it ordered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from retention.errors import PolicyError
from retention.policy import (
    Action,
    ColumnCondition,
    Condition,
    Policy,
    RelatedCondition,
    Rule,
    SubjectCondition,
    split_name,
)

ROWS = "*rows"  # stands for "the dataset's rows" in read and write sets


@dataclass
class Access:
    """What one rule reads and writes: (qualified dataset, column or ROWS)."""

    reads: set[tuple[str, str]] = field(default_factory=set)
    writes: set[tuple[str, str]] = field(default_factory=set)


@dataclass(frozen=True)
class Dependency:
    first: str  # must complete before...
    then: str  # ...this rule may run
    because: str


def access_of(rule: Rule, policy: Policy) -> Access:
    access = Access()
    own = rule.dataset
    system, _ = split_name(own)
    if rule.due.clock:
        access.reads.add((own, rule.due.clock))
    _read_conditions(access, policy, own, rule.due.where)
    for hold_id in rule.holds:
        hold = next((h for h in policy.holds if h.id == hold_id), None)
        if hold is not None:
            access.reads |= {(hold.dataset, hold.clock), (hold.dataset, ROWS)}
            access.reads |= _link_columns(policy, own, hold.dataset)
    for action in (rule.action, rule.held_action):
        if action is not None:
            _write_action(access, policy, own, action)
            _read_identifiers(access, policy, own, action)
    return access


def _read_conditions(
    access: Access, policy: Policy, dataset: str, conditions: Iterable[Condition]
) -> None:
    system, _ = split_name(dataset)
    for cond in conditions:
        if isinstance(cond, ColumnCondition):
            access.reads.add((dataset, cond.column))
        elif isinstance(cond, RelatedCondition):
            related = f"{system}.{cond.related}"
            access.reads.add((related, ROWS))
            access.reads |= _link_columns(policy, dataset, related)
            _read_conditions(access, policy, related, cond.where)
        elif isinstance(cond, SubjectCondition):
            access.reads.add((dataset, cond.column))
            source = cond.subjects_from
            access.reads |= {(source.dataset, source.column), (source.dataset, ROWS)}
            _read_conditions(access, policy, source.dataset, source.where)


def _read_identifiers(access: Access, policy: Policy, dataset: str, action: Action) -> None:
    system, _ = split_name(dataset)
    for chain in action.fields.values():
        for step in chain:
            for name in step.identifiers:
                if "." in name:
                    parent, column = name.split(".", 1)
                    access.reads |= {(f"{system}.{parent}", column), (f"{system}.{parent}", ROWS)}
                    access.reads |= _link_columns(policy, dataset, f"{system}.{parent}")
                else:
                    access.reads.add((dataset, name))


def _write_action(access: Access, policy: Policy, dataset: str, action: Action) -> None:
    if action.kind == "anonymise":
        access.writes |= {(dataset, name) for name in action.fields}
        return
    _write_rows(access, policy, dataset, seen=set())


def _write_rows(access: Access, policy: Policy, dataset: str, seen: set[str]) -> None:
    if dataset in seen:
        return
    seen.add(dataset)
    access.writes.add((dataset, ROWS))
    system, name = split_name(dataset)
    declared = policy.systems.get(system)
    if declared is None or name not in declared.datasets:
        return
    for relation in declared.datasets[name].relations:
        child = f"{system}.{relation.child}"
        if relation.on_delete == "detach" and relation.column:
            access.writes.add((child, relation.column))
        else:
            _write_rows(access, policy, child, seen)


def _link_columns(policy: Policy, one: str, other: str) -> set[tuple[str, str]]:
    """The columns a declared relation between two datasets joins on."""
    found: set[tuple[str, str]] = set()
    for parent, child in ((one, other), (other, one)):
        system, name = split_name(parent)
        declared = policy.systems.get(system)
        if declared is None or name not in declared.datasets:
            continue
        dataset = declared.datasets[name]
        for relation in dataset.relations:
            if f"{system}.{relation.child}" != child or relation.column is None:
                continue
            found.add((child, relation.column))
            found.add((parent, relation.parent_column or dataset.primary_key))
    return found


def _equalities(rule: Rule) -> dict[str, set[str]]:
    """Own-dataset column -> the only values a record of the rule can have."""
    out: dict[str, set[str]] = {}
    for cond in rule.due.where:
        if isinstance(cond, ColumnCondition) and cond.op in ("eq", "in"):
            values = cond.value if isinstance(cond.value, list) else [cond.value]
            out[cond.column] = {str(v) for v in values}
    return out


def _disjoint(a: Rule, b: Rule) -> bool:
    """Whether two rules can never act on the same record, so that neither
    reaches (through its own records) what the other changes. A subject
    condition reads another dataset regardless of the rule's own records."""
    if a.dataset != b.dataset or _has_subjects(a) or _has_subjects(b):
        return False
    ea, eb = _equalities(a), _equalities(b)
    return any(not (ea[c] & eb[c]) for c in ea.keys() & eb.keys())


def _has_subjects(rule: Rule) -> bool:
    return any(isinstance(c, SubjectCondition) for c in rule.due.where)


def dependencies(policy: Policy, rules: Sequence[Rule] | None = None) -> list[Dependency]:
    """Every (reader before writer) pair among the enabled rules."""
    chosen = [r for r in (rules if rules is not None else policy.rules) if r.enabled]
    accesses = {r.id: access_of(r, policy) for r in chosen}
    found: list[Dependency] = []
    for writer in chosen:
        for reader in chosen:
            if reader.id == writer.id or _disjoint(reader, writer):
                continue
            why = _hides(accesses[writer.id], accesses[reader.id], reader.dataset)
            if why:
                found.append(Dependency(reader.id, writer.id, why))
    return found


def _hides(writer: Access, reader: Access, reader_own: str) -> str:
    for dataset, column in sorted(writer.writes & reader.reads):
        if column == ROWS and dataset == reader_own:
            continue  # its own records removed: nothing left to hide
        what = f"removes rows of {dataset}" if column == ROWS else f"writes {dataset}.{column}"
        return f"{what}, which the other reads"
    return ""


def order_problems(policy: Policy) -> list[tuple[str, str]]:
    """(path, message) for each rule written before a rule it must follow."""
    position = {rule.id: i for i, rule in enumerate(policy.rules)}
    problems = []
    for dep in dependencies(policy):
        if position[dep.then] < position[dep.first]:
            problems.append(
                (
                    f"rules[{position[dep.then]}]",
                    f"rule {dep.then!r} must come after {dep.first!r}: it {dep.because} "
                    f"({dep.first!r}); running first, it would hide records "
                    f"{dep.first!r} has still to act on. Move it below {dep.first!r}.",
                )
            )
    return problems


def check_order(policy: Policy, file: str) -> None:
    problems = order_problems(policy)
    if problems:
        raise PolicyError(file, problems)


def prerequisites(policy: Policy) -> dict[str, list[str]]:
    """rule id -> the rules it must follow, in policy order."""
    out: dict[str, list[str]] = {rule.id: [] for rule in policy.rules}
    for dep in dependencies(policy):
        if dep.first not in out[dep.then]:
            out[dep.then].append(dep.first)
    position = {rule.id: i for i, rule in enumerate(policy.rules)}
    return {k: sorted(v, key=position.__getitem__) for k, v in out.items()}


def describe(policy: Policy) -> list[str]:
    """The derived order as lines for `retention check`."""
    needs = prerequisites(policy)
    lines = []
    for number, rule in enumerate((r for r in policy.rules if r.enabled), start=1):
        after = f"  (after {', '.join(needs[rule.id])})" if needs[rule.id] else ""
        lines.append(f"{number:3}. {rule.id}{after}")
    return lines


def blocked_by(rule_id: str, needs: Mapping[str, Sequence[str]], completed: set[str]) -> list[str]:
    """The rules `rule_id` must follow that have not completed in this run."""
    return [first for first in needs.get(rule_id, []) if first not in completed]
