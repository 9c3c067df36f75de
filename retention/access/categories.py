"""Per dataset (a category of data), what the policy says about keeping it:
the purpose, the legal basis, each rule that ends it (its clause, why, and
its clock and period or its condition), the laws that keep it longer, and
what happens to it when its parent goes. Read from the same policy the
sweep enforces."""

from __future__ import annotations

from dataclasses import dataclass, field

from retention.access.words import conditions
from retention.policy import Hold, Policy, Rule

NOT_STATED = "not stated in the policy"


@dataclass(frozen=True)
class Keeping:
    """One reason a record ends (a rule) or stays (a hold)."""

    kind: str  # "rule" or "hold"
    id: str
    text: str  # how long, in words
    why: str
    clock: str | None = None
    period: str | None = None
    from_year_end: bool = False
    conditional: bool = False  # the rule's clock counts only where its conditions hold


@dataclass
class Category:
    qualified: str
    purpose: str
    legal_basis: str
    keeping: list[Keeping] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def rules_with_clock(self) -> list[Keeping]:
        return [k for k in self.keeping if k.kind == "rule" and k.clock is not None]

    def holds_here(self) -> list[Keeping]:
        return [k for k in self.keeping if k.kind == "hold" and k.clock is not None]


def category_of(policy: Policy, qualified: str) -> Category:
    system_name, dataset_name, _, ds = policy.dataset(qualified)
    category = Category(qualified, ds.purpose or NOT_STATED, ds.legal_basis or NOT_STATED, [], [])
    for rule in policy.rules:
        if rule.dataset == qualified and rule.enabled:
            category.keeping.append(_rule_keeping(rule))
    for hold in policy.holds:
        if hold.dataset == qualified:
            category.keeping.append(_hold_keeping(hold))
    named = {h for r in policy.rules if r.dataset == qualified for h in r.holds}
    for hold in policy.holds:
        if hold.id in named and hold.dataset != qualified:
            category.notes.append(
                f"kept (the person anonymised where the rule says so) while {hold.law} keeps "
                f"a related {hold.dataset} record: {hold.why}"
            )
    for parent_name, parent in policy.systems[system_name].datasets.items():
        for rel in parent.relations:
            if rel.child != dataset_name:
                continue
            parent_q = f"{system_name}.{parent_name}"
            if rel.on_delete == "delete":
                category.notes.append(f"deleted together with its {parent_q} record")
            else:
                category.notes.append(f"stays, without its link, when its {parent_q} record goes")
    if ds.erasure is not None and ds.erasure.keep:
        category.notes.append(f"on an erasure request it stays: {ds.erasure.keep}")
    if not category.keeping and not category.notes:
        category.notes.append("no rule ends these records: kept until the policy says otherwise")
    return category


def _rule_keeping(rule: Rule) -> Keeping:
    due = rule.due
    parts = []
    if due.clock is not None and due.after is not None:
        parts.append(f"{_period_words(str(due.after))} after {due.clock}")
    if due.where:
        parts.append(f"when {conditions(due.where)}")
    then = "deleted" if rule.action.kind == "delete" else "anonymised"
    text = f"{then} {' and '.join(parts)}"
    return Keeping(
        "rule",
        rule.id,
        text,
        f"{rule.why.strip()} ({rule.clause.strip()})",
        due.clock,
        str(due.after) if due.after is not None else None,
        conditional=bool(due.where),
    )


def _hold_keeping(hold: Hold) -> Keeping:
    start = f"the end of the year of {hold.clock}" if hold.from_year_end else hold.clock
    return Keeping(
        "hold",
        hold.id,
        f"kept at least {_period_words(str(hold.period))} after {start} ({hold.law})",
        hold.why.strip(),
        hold.clock,
        str(hold.period),
        hold.from_year_end,
    )


def _period_words(iso: str) -> str:
    """P3Y -> 3 years (ISO text kept for anything more complex)."""
    units = {"Y": "year", "M": "month", "D": "day", "W": "week"}
    if iso == "immediately" or iso == "P0D":
        return "immediately"
    body = iso[1:] if iso.startswith("P") and "T" not in iso else ""
    words = []
    number = ""
    for char in body:
        if char.isdigit():
            number += char
        elif char in units and number:
            words.append(f"{number} {units[char]}{'' if number == '1' else 's'}")
            number = ""
        else:
            return iso
    return " ".join(words) if words else iso
