"""The access bundle: everything held about one person, system by system,
with each category's purpose, legal basis, how long it is kept and why, and
each record's due dates. One JSON document (portability) and the source of
the readable report."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from retention.access.categories import Category, category_of
from retention.access.clocks import due_at
from retention.identity import canonical
from retention.periods import Period
from retention.policy import Policy

# Held, but never handed out: a credential is not the person's data to
# carry elsewhere, and a copy would only weaken it.
WITHHELD = ("password", "secret", "token")
OTHER_PERSON = "[another person]"


@dataclass
class RecordDates:
    rule_or_hold: str
    kind: str  # "due" (a rule's clock) or "kept until" (a hold)
    date: str | None  # ISO-8601 in the policy's zone; None: the clock has no date yet
    note: str = ""


@dataclass
class HeldRecord:
    key: str
    data: dict[str, Any]
    dates: list[RecordDates] = field(default_factory=list)


@dataclass
class CategoryHeld:
    category: Category
    records: list[HeldRecord] = field(default_factory=list)


@dataclass
class AccessBundle:
    request_id: str
    policy_name: str
    policy_hash: str
    controller: str
    generated_at: str
    systems_answered: list[str]
    categories: list[CategoryHeld] = field(default_factory=list)

    @property
    def record_count(self) -> int:
        return sum(len(c.records) for c in self.categories)

    @property
    def nothing_held(self) -> bool:
        return self.record_count == 0

    def counts(self) -> dict[str, int]:
        return {c.category.qualified: len(c.records) for c in self.categories}

    def to_json(self) -> str:
        out = asdict(self)
        out["record_count"] = self.record_count
        out["nothing_held"] = self.nothing_held
        return json.dumps(out, indent=2, ensure_ascii=False, default=str)


def build_bundle(
    policy: Policy,
    policy_hash: str,
    request_id: str,
    records: Mapping[str, Mapping[Any, Mapping[str, Any]]],
    systems_answered: list[str],
    now: datetime,
) -> AccessBundle:
    """`records`: qualified dataset -> record key -> its fields (as read)."""
    bundle = AccessBundle(
        request_id,
        policy.name,
        policy_hash,
        policy.controller,
        now.isoformat(),
        sorted(systems_answered),
    )
    for qualified in sorted(records):
        rows = records[qualified]
        if not rows:
            continue
        category = category_of(policy, qualified)
        held = CategoryHeld(category)
        for key in sorted(rows, key=str):
            row = rows[key]
            held.records.append(HeldRecord(str(key), _plain(row), _dates(category, row)))
        bundle.categories.append(held)
    return bundle


def _dates(category: Category, row: Mapping[str, Any]) -> list[RecordDates]:
    out = []
    for keeping in category.rules_with_clock() + category.holds_here():
        assert keeping.clock is not None and keeping.period is not None
        when = due_at(
            row.get(keeping.clock),
            Period.parse(keeping.period),
            from_year_end=keeping.from_year_end,
        )
        kind = "due" if keeping.kind == "rule" else "kept until"
        note = "" if when is not None else f"{keeping.clock} is empty"
        if when is not None and keeping.conditional:
            note = "if the rule's condition holds then"
        out.append(RecordDates(keeping.id, kind, when.isoformat() if when else None, note))
    return out


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _value(name, value) for name, value in row.items()}


def only_own(row: Mapping[str, Any], identity_columns: set[str], own: set[str]) -> dict[str, Any]:
    """A record naming several people (a photo's subjects) shows only the
    person's own ids: the others' are not theirs to receive (GDPR 15(4))."""
    out = dict(row)
    for column in identity_columns:
        values = out.get(column)
        if isinstance(values, list):
            out[column] = [v if canonical(v) in own else OTHER_PERSON for v in values]
    return out


def _value(name: str, value: Any) -> Any:
    if value is not None and any(w in name.lower() for w in WITHHELD):
        return "[held, not shown: a credential]"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"[{len(value)} bytes of binary data]"
    if isinstance(value, list | tuple):
        return [_value(name, v) for v in value]
    return value
