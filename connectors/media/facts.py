"""Media facts -> due, held or not: the one evaluation both media connectors use.

A media item (photo, video, recording) has facts such as `captured_at`,
`subjects` (CRM contact ids) and `consent_ref`, read from a sidecar, S3
metadata or tags, or an index table. This module decides, from those facts
alone, whether a rule finds the item due and whether a hold keeps it. It never
guesses: an item whose clock is missing or unreadable is not due.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from connectors.base import Held, Key, ScanBatch
from retention.errors import RetentionError
from retention.identity import normalise
from retention.identity import validate as validate_identities
from retention.policy import (
    Action,
    ColumnCondition,
    Dataset,
    Facts,
    Hold,
    Policy,
    Rule,
    Scalar,
    System,
)
from retention.timezone import aware

FactValue = str | list[str] | None
ItemFacts = Mapping[str, FactValue]

# Facts whose value is a set of ids; the string sources join them with
# Facts.list_separator.
LIST_FACTS = frozenset({"subjects"})
SUBJECTS = "subjects"


class MediaInputError(RetentionError):
    """A media connector was given input it cannot act on safely; nothing changed."""


# --- reading facts -------------------------------------------------------------


def source_names(config: Facts | None, fact: str) -> tuple[str, ...]:
    """Where a fact may be found: the mapped name, else the fact's own name
    (also spelt with hyphens, as S3 metadata and tag keys usually are)."""
    if config is not None and fact in config.names:
        return (config.names[fact],)
    hyphenated = fact.replace("_", "-")
    return (fact,) if hyphenated == fact else (fact, hyphenated)


def decode_facts(
    raw: Mapping[str, Any], config: Facts | None, wanted: Iterable[str]
) -> dict[str, FactValue]:
    """The wanted facts out of one source record (sidecar JSON, metadata,
    tags, index row); absent facts are None."""
    separator = config.list_separator if config is not None else " "
    lowered = {str(k).lower(): v for k, v in raw.items()}
    out: dict[str, FactValue] = {}
    for fact in wanted:
        value = None
        for name in source_names(config, fact):
            value = raw.get(name, lowered.get(name.lower()))
            if value is not None:
                break
        out[fact] = _normalise(fact, value, separator)
    return out


def _normalise(fact: str, value: Any, separator: str) -> FactValue:
    if value is None:
        return None
    if isinstance(value, list | tuple | set):
        return [_text(v) for v in value if v is not None and _text(v) != ""]
    text = value.isoformat() if isinstance(value, datetime | date) else _text(value).strip()
    if fact in LIST_FACTS:
        return [part for part in text.split(separator) if part.strip()]
    return text or None


def _text(value: Any) -> str:
    return str(value).strip()


def parse_instant(value: FactValue) -> datetime | None:
    """An ISO-8601 date or datetime as an aware datetime, or None when the
    value is missing or unreadable. Without an offset it is wall-clock time in
    the policy's time zone, as in the SQL systems (retention.timezone)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None and "T" not in value and " " not in value:
        # A bare date means up to its last moment: nothing is due early, no
        # hold ends early (a DATE column in SQL rounds the same way).
        moment += timedelta(days=1)
    return aware(moment)


# --- a rule, made ready for one media dataset --------------------------------


@dataclass(frozen=True)
class MediaRule:
    rule_id: str
    clock: str | None
    cutoff: datetime | None
    where: tuple[ColumnCondition, ...]
    holds: tuple[Hold, ...]
    now: datetime

    def facts_needed(self) -> set[str]:
        needed = {c.column for c in self.where} | {h.clock for h in self.holds}
        return needed | ({self.clock} if self.clock else set())


def check_action(action: Action) -> None:
    if action.kind != "delete":
        raise MediaInputError(
            f"action.kind: {action.kind!r} cannot be done to a photo, video or recording; "
            "media items can only be deleted"
        )


def check_now(now: datetime) -> None:
    if now.tzinfo is None:
        raise MediaInputError("now: a datetime without a timezone is ambiguous; give an aware one")


def prepare_rule(rule: Rule, *, qualified: str, policy: Policy | None, now: datetime) -> MediaRule:
    """Check that the rule can be evaluated over media facts and resolve its holds."""
    check_now(now)
    if rule.dataset != qualified:
        raise MediaInputError(f"rule {rule.id}: dataset {rule.dataset!r} is not {qualified!r}")
    check_action(rule.action)
    if rule.when_held != "keep":
        raise MediaInputError(
            f"rule {rule.id}: when_held: {rule.when_held!r} is impossible for media; use 'keep'"
        )
    where: list[ColumnCondition] = []
    for i, cond in enumerate(rule.due.where):
        if not isinstance(cond, ColumnCondition):
            raise MediaInputError(
                f"rule {rule.id}: due.where[{i}]: media facts take column conditions only "
                f"(got {type(cond).__name__}; the core resolves subject conditions first)"
            )
        where.append(cond)
    return MediaRule(
        rule_id=rule.id,
        clock=rule.due.clock,
        cutoff=rule.due.after.before(now) if rule.due.after is not None else None,
        where=tuple(where),
        holds=tuple(_holds_for(rule, policy, qualified)),
        now=now,
    )


def _holds_for(rule: Rule, policy: Policy | None, qualified: str) -> list[Hold]:
    if not rule.holds:
        return []
    if policy is None:
        # Without the policy the holds cannot be honoured, and a hold must win.
        raise MediaInputError(
            f"rule {rule.id}: holds {rule.holds} need the policy; open the connector with policy="
        )
    known = {h.id: h for h in policy.holds}
    missing = [h for h in rule.holds if h not in known]
    if missing:
        raise MediaInputError(f"rule {rule.id}: holds: no hold {missing[0]!r} in the policy")
    return [known[h] for h in rule.holds if known[h].dataset == qualified]


# --- judging one item ----------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    due: bool
    held: Held | None = None
    clock_missing: bool = False


NOT_DUE = Judgement(due=False)


def judge(key: str, facts: ItemFacts, rule: MediaRule) -> Judgement:
    if rule.clock is not None and rule.cutoff is not None:
        clock = parse_instant(facts.get(rule.clock))
        if clock is None:
            # Unknown is never silently kept: counted as undated when the rest matches.
            matches = all(condition_matches(c, facts) for c in rule.where)
            return Judgement(due=False, clock_missing=matches)
        if not clock < rule.cutoff:
            return NOT_DUE
    if not all(condition_matches(c, facts) for c in rule.where):
        return NOT_DUE
    return Judgement(due=True, held=_strongest_hold(key, facts, rule))


def _strongest_hold(key: str, facts: ItemFacts, rule: MediaRule) -> Held | None:
    found = [h for h in (_hold_on(key, facts, hold, rule.now) for hold in rule.holds) if h]
    if not found:
        return None
    open_ended = [h for h in found if h.until is None]
    if open_ended:
        return open_ended[0]
    return max(found, key=lambda h: h.until or rule.now)


def _hold_on(key: str, facts: ItemFacts, hold: Hold, now: datetime) -> Held | None:
    clock = parse_instant(facts.get(hold.clock))
    if clock is None:
        # Cannot tell whether the law still keeps it: keep it, with no end date.
        return Held(key, hold.id, None, note="date unknown")
    if hold.from_year_end:
        clock = datetime(clock.year + 1, 1, 1, tzinfo=clock.tzinfo)
    if clock > hold.period.before(now):
        return Held(key, hold.id, hold.period.after(clock))
    return None


def condition_matches(cond: ColumnCondition, facts: ItemFacts) -> bool:
    """SQL-like: a comparison with a missing fact is false. On a list fact
    `in`/`eq` mean any overlap, `not_in`/`ne` mean none."""
    value = facts.get(cond.column)
    values = value if isinstance(value, list) else ([] if value is None else [value])
    if cond.op == "is_null":
        return not values
    if cond.op == "not_null":
        return bool(values)
    if not values:
        return False
    if cond.op in ("in", "not_in", "eq", "ne"):
        wanted = cond.value if isinstance(cond.value, list) else [cond.value]
        texts = {_text(v) for v in wanted if v is not None}
        overlap = any(v in texts for v in values)
        return overlap if cond.op in ("in", "eq") else not overlap
    assert cond.value is not None and not isinstance(cond.value, list)
    return any(_ordered(cond.op, v, cond.value) for v in values)


def _ordered(op: str, fact: str, bound: Scalar) -> bool:
    left: Any
    right: Any
    if isinstance(bound, int | float) and not isinstance(bound, bool):
        try:
            left, right = float(fact), float(bound)
        except ValueError:
            return False
    else:
        left_instant, right_instant = parse_instant(fact), parse_instant(str(bound))
        if left_instant is not None and right_instant is not None:
            left, right = left_instant, right_instant
        else:
            left, right = fact, str(bound)
    if op == "lt":
        return bool(left < right)
    if op == "le":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    return bool(left >= right)


# --- over a stream of items ------------------------------------------------------


@dataclass
class ScanTally:
    examined: int = 0
    due: int = 0
    held: int = 0
    clock_missing: int = 0


@dataclass
class _Page:
    batch: ScanBatch
    examined: int = 0


def scan_batches(
    items: Iterable[tuple[str, ItemFacts]],
    rule: MediaRule,
    *,
    qualified: str,
    batch_size: int,
    log: Any,
    tally: ScanTally | None = None,
    found: Callable[[str], None] | None = None,
) -> Iterator[ScanBatch]:
    """Judge items (in key order) and yield a batch whenever batch_size due
    or held keys have gathered. Logs counts per batch, never keys. `found` is
    told each due or held key as soon as it is judged, before the next item
    is read (a connector keeps what it read of that item)."""
    tally = tally if tally is not None else ScanTally()
    page = _Page(ScanBatch(dataset=qualified))
    for key, facts in items:
        verdict = judge(key, facts, rule)
        tally.examined += 1
        page.examined += 1
        tally.clock_missing += verdict.clock_missing
        page.batch.undated += verdict.clock_missing
        if verdict.due and found is not None:
            found(key)
        if verdict.due and verdict.held is not None:
            page.batch.held.append(verdict.held)
            tally.held += 1
        elif verdict.due:
            page.batch.due.append(key)
            tally.due += 1
        if len(page.batch.due) + len(page.batch.held) >= batch_size:
            _log_page(log, rule, qualified, page, tally)
            yield page.batch
            page = _Page(ScanBatch(dataset=qualified))
    if page.batch.due or page.batch.held or page.batch.undated:
        _log_page(log, rule, qualified, page, tally)
        yield page.batch
    if tally.clock_missing:
        log.warning(
            "media.scan.clock_missing",
            rule=rule.rule_id,
            dataset=qualified,
            items=tally.clock_missing,
            note="items without a readable clock fact are never due; fix their facts",
        )
    log.info(
        "media.scan.done",
        rule=rule.rule_id,
        dataset=qualified,
        examined=tally.examined,
        due=tally.due,
        held=tally.held,
    )


def _log_page(log: Any, rule: MediaRule, qualified: str, page: _Page, tally: ScanTally) -> None:
    log.debug(
        "media.scan.batch",
        rule=rule.rule_id,
        dataset=qualified,
        examined=page.examined,
        due=len(page.batch.due),
        held=len(page.batch.held),
        examined_total=tally.examined,
    )


@dataclass
class Recheck:
    still_due: list[str] = field(default_factory=list)
    kept: list[Held] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def recheck(keys: Sequence[str], facts_by_key: Mapping[str, ItemFacts], rule: MediaRule) -> Recheck:
    """At apply time: which keys are still due, which a hold now keeps, and
    which are gone or no longer due."""
    out = Recheck()
    for key in keys:
        facts = facts_by_key.get(key)
        verdict = judge(key, facts, rule) if facts is not None else NOT_DUE
        if verdict.due and verdict.held is not None:
            out.kept.append(verdict.held)
        elif verdict.due:
            out.still_due.append(key)
        else:
            out.skipped.append(key)
    return out


def distinct_values(
    items: Iterable[tuple[str, ItemFacts]], column: str, where: Sequence[ColumnCondition]
) -> set[Scalar]:
    values: set[Scalar] = set()
    for _, facts in items:
        if all(condition_matches(c, facts) for c in where):
            value = facts.get(column)
            values.update(value if isinstance(value, list) else [] if value is None else [value])
    return values


def column_conditions(where: Sequence[object], path: str = "where") -> list[ColumnCondition]:
    out = []
    for i, cond in enumerate(where):
        if not isinstance(cond, ColumnCondition):
            raise MediaInputError(f"{path}[{i}]: media facts take column conditions only")
        out.append(cond)
    return out


def keys_with_subjects(items: Iterable[tuple[str, ItemFacts]], contact_ids: set[str]) -> list[str]:
    found = []
    for key, facts in items:
        subjects = facts.get(SUBJECTS)
        if isinstance(subjects, list) and contact_ids.intersection(subjects):
            found.append(key)
    return found


# A media connector's reader of (key, facts) pairs of a dataset, for the facts named.
ItemSource = Callable[[str, set[str]], Iterable[tuple[str, ItemFacts]]]


def subject_values_of(
    items: ItemSource, dataset: str, column: str, where: Sequence[object]
) -> set[Scalar]:
    """Connector.subject_values over any media store."""
    conditions = column_conditions(where)
    wanted = {column} | {c.column for c in conditions}
    return distinct_values(items(dataset, wanted), column, conditions)


def find_subject_in(
    items: ItemSource, datasets: Iterable[str], identities: Mapping[str, Sequence[str]]
) -> dict[str, list[Key]]:
    """Connector.find_subject over any media store: items showing the subject."""
    ids = contact_ids(validate_identities(identities))
    found: dict[str, list[Key]] = {}
    for dataset in datasets if ids else []:
        keys = keys_with_subjects(items(dataset, {SUBJECTS}), ids)
        if keys:
            found[dataset] = list(keys)
    return found


def identity_values(ds: Dataset, facts_by_key: Mapping[str, ItemFacts]) -> list[str]:
    """Connector.identities over any media store: the values of the facts the
    dataset declares as identity fields (e.g. subjects: CRM contact ids)."""
    found: set[str] = set()
    for facts in facts_by_key.values():
        for fact in ds.identity_fields.values():
            value = facts.get(fact)
            for item in value if isinstance(value, list) else [value]:
                if item is not None and str(item).strip():
                    found.add(str(item).strip())
    return sorted(found)


# --- what both media connectors need to know of their system -------------------


def media_dataset(
    system_name: str, system: System, dataset: str, *, default_facts: Facts | None = None
) -> tuple[Dataset, Facts]:
    ds = system.datasets.get(dataset)
    if ds is None:
        raise MediaInputError(
            f"dataset: {dataset!r} is not a dataset of system {system_name!r} "
            f"(it has: {', '.join(sorted(system.datasets))})"
        )
    facts = ds.facts or default_facts
    if facts is None or ds.prefix is None:
        raise MediaInputError(
            f"systems.{system_name}.datasets.{dataset}.facts: say where the media facts are "
            "(source: metadata, tags, sidecar or index)"
        )
    return ds, facts


def dataset_of_rule(system_name: str, system: System, rule: Rule) -> str:
    owner, _, dataset = rule.dataset.partition(".")
    if owner != system_name or dataset not in system.datasets:
        raise MediaInputError(
            f"rule {rule.id}: dataset {rule.dataset!r} is not a dataset of system {system_name!r}"
        )
    return dataset


def contact_ids(identities: Mapping[str, Sequence[str]]) -> set[str]:
    """Media knows its subjects by CRM contact id only; other kinds find nothing."""
    return {normalise("crm_contact_id", v) for v in identities.get("crm_contact_id", [])}
