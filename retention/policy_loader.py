"""Load a policy file: parse, validate, cross-check, resolve secrets, hash.

Everything here runs before any connection is opened, so a bad file changes
nothing. Problems are reported with the path inside the file, e.g.
`rules[3].action.fields.email`.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from retention.errors import PolicyError
from retention.identity import KINDS as IDENTITY_KINDS
from retention.identity import set_default_region
from retention.policy import (
    Action,
    ColumnCondition,
    Dataset,
    Policy,
    RelatedCondition,
    Rule,
    SecretRef,
    SubjectCondition,
    System,
    split_name,
)
from retention.timezone import set_policy_zone

SecretResolver = Callable[[SecretRef], str | None]


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    path: str
    sha256: str
    secrets: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    def connection(self, system: str) -> str | None:
        return self.secrets.get(f"systems.{system}.connection")

    @property
    def hash_key(self) -> bytes:
        return self.secrets["settings.hash_key"].encode()


def env_resolver(ref: SecretRef) -> str | None:
    if ref.env is not None:
        return os.environ.get(ref.env) or None
    return None


def load_policy(
    path: str | Path,
    *,
    resolve: SecretResolver = env_resolver,
    only_systems: set[str] | None = None,
) -> LoadedPolicy:
    """Parse and check `path`; raise PolicyError naming every problem found."""
    file = str(path)
    try:
        raw_bytes = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError(file, [("", f"cannot read the file: {exc.strerror}")]) from exc
    try:
        raw = yaml.load(raw_bytes, Loader=StrictLoader)
    except DuplicateKey as exc:
        raise PolicyError(file, [(exc.where, exc.message)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PolicyError(
            file, [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
        ) from exc
    if not isinstance(raw, dict):
        raise PolicyError(file, [("", "the file must hold a mapping (version, systems, rules...)")])
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(file, _problems(exc.errors())) from None
    problems = list(cross_check(policy))
    secrets: dict[str, str] = {}
    if not problems:
        problems = _resolve_secrets(policy, resolve, secrets, only_systems)
    if problems:
        raise PolicyError(file, problems)
    set_default_region(policy.settings.phone_region)
    set_policy_zone(policy.settings.timezone)
    return LoadedPolicy(policy, file, hashlib.sha256(raw_bytes).hexdigest(), secrets)


def _problems(errors: list[Any]) -> list[tuple[str, str]]:
    """One line per place: pydantic may report a place once per type it tried."""
    found: dict[str, str] = {}
    for err in errors:
        path, message = _pydantic_problem(err)
        found.setdefault(path, message)
    return list(found.items())


# Parts of pydantic's error locations that name its own machinery (a union
# branch, a validator), not a place in the file.
_INTERNAL = re.compile(r"^(?:[A-Z]\w*Condition|function-\w+\[.*\]|\w+\[.*\]|str|int|float|bool)$")


class DuplicateKey(yaml.YAMLError):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where, self.message = where, message


class StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping: YAML
    keeps the last silently, so a second `holds:` would drop the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if key == "<<":
                continue  # a merge key (<<: *anchor) may be repeated
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the safe loader reports it itself
            if first is not None:
                mark = key_node.start_mark
                raise DuplicateKey(
                    f"line {mark.line + 1}, column {mark.column + 1}",
                    f"key {key!r} is written twice in one mapping (first at line "
                    f"{first.start_mark.line + 1}); YAML would keep only the last",
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _pydantic_problem(err: Any) -> tuple[str, str]:
    path = ""
    for part in err["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _INTERNAL.match(str(part)):
            continue
        else:
            path += f".{part}" if path else str(part)
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "union_tag_invalid":
        message = "a condition here is {column, op, value} or {related, where}"
    elif err["type"] == "model_attributes_type" or err["type"] == "model_type":
        message = f"expected a mapping of fields here, not {err['input']!r}"
    elif err["type"] == "extra_forbidden":
        message = "unknown field (misspelt? the policy accepts only the documented fields)"
    elif err["type"] == "missing":
        message = "required field is missing"
    elif err["type"] == "list_type" and path.endswith("where") and isinstance(err["input"], str):
        # The one mistake that could delete the wrong rows: say why it is refused.
        message = (
            "conditions are a list of {column, op, value} over declared columns; "
            "SQL text is not accepted"
        )
    return path, message


def _resolve_secrets(
    policy: Policy, resolve: SecretResolver, out: dict[str, str], only: set[str] | None
) -> list[tuple[str, str]]:
    wanted: list[tuple[str, SecretRef]] = [("settings.hash_key", policy.settings.hash_key)]
    for name, system in policy.systems.items():
        if system.connection is not None and (only is None or name in only):
            wanted.append((f"systems.{name}.connection", system.connection))
    problems = []
    for path, ref in wanted:
        value = resolve(ref)
        if value is None:
            problems.append((path, f"{ref.describe()} is not set"))
        else:
            out[path] = value
    return problems


# --- cross references --------------------------------------------------------


def cross_check(policy: Policy) -> Iterator[tuple[str, str]]:
    """References the models alone cannot check: datasets, columns, holds."""
    for sname, system in policy.systems.items():
        for dname, ds in system.datasets.items():
            base = f"systems.{sname}.datasets.{dname}"
            for kind in ds.identity_fields:
                if kind not in IDENTITY_KINDS:
                    yield (
                        f"{base}.identity_fields.{kind}",
                        f"unknown identity kind; use one of {', '.join(IDENTITY_KINDS)}",
                    )
            for i, rel in enumerate(ds.relations):
                if rel.child not in system.datasets:
                    yield f"{base}.relations[{i}].child", f"no dataset {rel.child!r} in {sname!r}"
            if ds.facts and ds.facts.index and not _dataset_exists(policy, ds.facts.index):
                yield f"{base}.facts.index", f"no dataset {ds.facts.index!r}"
            if ds.erasure is not None:
                yield from _check_erasure(policy, ds, f"{sname}.{dname}", f"{base}.erasure")
        yield from check_reviewed(sname, system)
    hold_ids = {h.id for h in policy.holds}
    for i, hold in enumerate(policy.holds):
        found = _lookup(policy, hold.dataset)
        if found is None:
            yield f"holds[{i}].dataset", f"no dataset {hold.dataset!r}"
        elif hold.clock not in found.declared_columns():
            yield f"holds[{i}].clock", _undeclared(hold.clock, hold.dataset)
    seen: set[str] = set()
    for i, rule in enumerate(policy.rules):
        base = f"rules[{i}]"
        if rule.id in seen:
            yield f"{base}.id", f"rule id {rule.id!r} is used twice"
        seen.add(rule.id)
        target = _lookup(policy, rule.dataset)
        if target is None:
            yield f"{base}.dataset", f"no dataset {rule.dataset!r} (write system.dataset)"
            continue
        yield from _check_rule(policy, rule, target, base, hold_ids)
    yield from _check_no_literal_values(policy)


def check_reviewed(sname: str, system: System) -> Iterator[tuple[str, str]]:
    """An allow-list entry must fit its system's kind, be said once, and not
    contradict a dataset: a declared column is covered, not "reviewed"."""
    declared: dict[str, set[str]] = {}
    for ds in system.datasets.values():
        if ds.table is not None:
            declared.setdefault(ds.table, set()).update(ds.declared_columns())
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(system.reviewed):
        base = f"systems.{sname}.reviewed[{i}]"
        if system.kind == "sql" and entry.table is None:
            yield f"{base}.prefix", "an SQL system's reviewed entries name a `table`"
            continue
        if system.kind != "sql" and entry.prefix is None:
            yield f"{base}.table", "a media system's reviewed entries name a `prefix`"
            continue
        place = entry.table or entry.prefix or ""
        if entry.table in declared and not entry.columns:
            yield (
                f"{base}.columns",
                f"table {entry.table!r} is a dataset: name the undeclared columns reviewed",
            )
        for column in entry.columns:
            if column in declared.get(place, set()):
                yield (
                    f"{base}.columns",
                    (
                        f"column {column!r} is declared by a dataset of table {place!r}; "
                        "remove it here"
                    ),
                )
        for item in entry.columns or ["*"]:
            if (place, item) in seen:
                yield base, f"{place}.{item} is reviewed twice"
            seen.add((place, item))


def _check_rule(
    policy: Policy, rule: Rule, ds: Dataset, base: str, hold_ids: set[str]
) -> Iterator[tuple[str, str]]:
    declared = ds.declared_columns()
    if rule.due.clock and rule.due.clock not in declared:
        yield f"{base}.due.clock", _undeclared(rule.due.clock, rule.dataset)
    for j, cond in enumerate(rule.due.where):
        yield from _check_condition(policy, rule.dataset, ds, cond, f"{base}.due.where[{j}]")
    yield from _check_action(rule.action, ds, rule.dataset, f"{base}.action")
    if rule.held_action:
        yield from _check_action(rule.held_action, ds, rule.dataset, f"{base}.held_action")
    for j, hold_id in enumerate(rule.holds):
        if hold_id not in hold_ids:
            yield f"{base}.holds[{j}]", f"no hold {hold_id!r} under `holds:`"
            continue
        hold = policy.hold(hold_id)
        if hold.dataset != rule.dataset and not _related(policy, rule.dataset, hold.dataset):
            yield (
                f"{base}.holds[{j}]",
                f"hold {hold_id!r} keeps {hold.dataset}, which is neither {rule.dataset} "
                "nor a child of it by a declared relation",
            )


def _check_condition(
    policy: Policy, qualified: str, ds: Dataset, cond: object, path: str
) -> Iterator[tuple[str, str]]:
    if isinstance(cond, ColumnCondition):
        if cond.column not in ds.declared_columns():
            yield f"{path}.column", _undeclared(cond.column, qualified)
    elif isinstance(cond, RelatedCondition):
        system, _ = split_name(qualified)
        other = f"{system}.{cond.related}"
        other_ds = _lookup(policy, other)
        if other_ds is None or not (
            _related(policy, qualified, other) or _related(policy, other, qualified)
        ):
            yield f"{path}.related", f"{cond.related!r} is not linked to {qualified} by a relation"
            return
        for k, sub in enumerate(cond.where):
            yield from _check_condition(policy, other, other_ds, sub, f"{path}.where[{k}]")
    elif isinstance(cond, SubjectCondition):
        if cond.column not in ds.declared_columns():
            yield f"{path}.column", _undeclared(cond.column, qualified)
        source = _lookup(policy, cond.subjects_from.dataset)
        if source is None:
            yield f"{path}.subjects_from.dataset", f"no dataset {cond.subjects_from.dataset!r}"
            return
        if cond.subjects_from.column not in source.declared_columns():
            yield (
                f"{path}.subjects_from.column",
                _undeclared(cond.subjects_from.column, cond.subjects_from.dataset),
            )
        for k, sub in enumerate(cond.subjects_from.where):
            yield from _check_condition(
                policy, cond.subjects_from.dataset, source, sub, f"{path}.subjects_from.where[{k}]"
            )


def _check_action(
    action: Action, ds: Dataset, qualified: str, path: str
) -> Iterator[tuple[str, str]]:
    declared = ds.declared_columns()
    for column, chain in action.fields.items():
        if column not in declared:
            yield f"{path}.fields.{column}", _undeclared(column, qualified)
        if column == ds.primary_key:
            yield f"{path}.fields.{column}", "the primary key cannot be anonymised"
        for k, step in enumerate(chain):
            for ident in step.identifiers:
                if "." not in ident and ident not in declared:
                    yield f"{path}.fields.{column}[{k}].identifiers", _undeclared(ident, qualified)


def _check_erasure(
    policy: Policy, ds: Dataset, qualified: str, path: str
) -> Iterator[tuple[str, str]]:
    erasure = ds.erasure
    assert erasure is not None
    declared = ds.declared_columns()
    for name, action in (("action", erasure.action), ("held_action", erasure.held_action)):
        if action is not None:
            yield from _check_action(action, ds, qualified, f"{path}.{name}")
    for j, cond in enumerate(erasure.restrict_when):
        if cond.column not in declared:
            yield f"{path}.restrict_when[{j}].column", _undeclared(cond.column, qualified)
    for j, hold_id in enumerate(erasure.holds):
        hold = next((h for h in policy.holds if h.id == hold_id), None)
        if hold is None:
            yield f"{path}.holds[{j}]", f"no hold {hold_id!r} under `holds:`"
        elif hold.dataset != qualified and not _related(policy, qualified, hold.dataset):
            yield (
                f"{path}.holds[{j}]",
                f"hold {hold_id!r} keeps {hold.dataset}, which is neither {qualified} "
                "nor a child of it by a declared relation",
            )
    if erasure.held_action is not None and not erasure.holds:
        yield f"{path}.held_action", "a `held_action` needs `holds`"


def _check_no_literal_values(policy: Policy) -> Iterator[tuple[str, str]]:
    """`values` of a redact step is filled by an erasure request; written in a
    policy file it would put a person's identifiers in the file itself."""
    actions: list[tuple[str, Action | None]] = []
    for i, rule in enumerate(policy.rules):
        actions += [(f"rules[{i}].action", rule.action)]
        actions += [(f"rules[{i}].held_action", rule.held_action)]
    for sname, system in policy.systems.items():
        for dname, ds in system.datasets.items():
            if ds.erasure is not None:
                base = f"systems.{sname}.datasets.{dname}.erasure"
                actions += [(f"{base}.action", ds.erasure.action)]
                actions += [(f"{base}.held_action", ds.erasure.held_action)]
    for path, action in actions:
        for column, chain in action.fields.items() if action else []:
            for k, step in enumerate(chain):
                if step.values:
                    yield (
                        f"{path}.fields.{column}[{k}].values",
                        "literal identifiers do not belong in a policy; an erasure "
                        "request supplies the subject's own",
                    )


def _undeclared(column: str, qualified: str) -> str:
    return (
        f"column {column!r} is not declared on {qualified} "
        "(add it to primary_key, identity_fields, personal_fields or columns)"
    )


def _lookup(policy: Policy, qualified: str) -> Dataset | None:
    if "." not in qualified:
        return None
    system, dataset = split_name(qualified)
    sys_ = policy.systems.get(system)
    return sys_.datasets.get(dataset) if sys_ else None


def _related(policy: Policy, parent: str, child: str, _depth: int = 0) -> bool:
    """Is `child` reachable from `parent` by declared relations (same system)?"""
    if _depth > 10:  # a cycle in declared relations: the connector reports it
        return False
    psys, pname = split_name(parent)
    csys, cname = split_name(child)
    if psys != csys:
        return False
    ds = policy.systems[psys].datasets.get(pname)
    if ds is None:
        return False
    for rel in ds.relations:
        if rel.child == cname or _related(policy, f"{psys}.{rel.child}", child, _depth + 1):
            return True
    return False


def _dataset_exists(policy: Policy, qualified: str) -> bool:
    return _lookup(policy, qualified) is not None
