"""Erasure on request: forget one person, or a thousand in one pass, with
the sweep's own engine (plan, holds, guard, batches with intents, recovery,
lease, evidence) and a certificate per request built from the ledger.

    requests -> validate identities -> resolve every record of each person
      (subject.py) -> restricted? (cooperation in force: kept, flagged,
      reported, unless overridden with a reason) -> one rule per dataset that
      declares `erasure:` (the records of all requests, keys `in` a list)
      and one per free-text dataset (others' rows that name a person:
      redacted) -> sweep(those rules) -> one `request` entry per request

A request id already in the ledger is not acted on again: its first
certificate is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retention import identity
from retention.anonymise.redact import redaction_spans
from retention.anonymise.redact_index import mention_index, name_stem
from retention.connector import Connector, Key, SubjectStore
from retention.errors import RetentionError
from retention.logs import get_logger
from retention.pipeline.order import dependencies
from retention.pipeline.outcome import RunSummary
from retention.pipeline.plan import plan_rule
from retention.pipeline.run import SweepArgs, sweep
from retention.pipeline.subject import Subject, resolve, subject_of
from retention.policy import (
    Action,
    ColumnCondition,
    Condition,
    Dataset,
    Due,
    Erasure,
    Policy,
    Rule,
    Scalar,
    Strategy,
    split_name,
)

log = get_logger("retention.erase")

RequestKind = Literal["erasure", "marketing-withdrawn", "photography-withdrawn"]
CLAUSE = {
    "erasure": "The data subject's right to erasure ('oikeus tietojen poistamiseen').",
    "marketing-withdrawn": "Consent to electronic direct marketing may be withdrawn at any time.",
    "photography-withdrawn": "Consent to photography may be withdrawn at any time.",
}


class ErasureRequest(BaseModel):
    """One person's request, as the register contact received it. At least
    one identity to find them by; a name only helps redact free text."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$",
        description="Your reference for this request (a ticket number); used once.",
    )
    kind: RequestKind = Field(default="erasure", description="What the person asked for.")
    email: list[str] = Field(default=[], description="Email addresses of the person.")
    phone: list[str] = Field(default=[], description="Phone numbers (+358..., 040...).")
    crm_contact_id: list[str] = Field(default=[], description="CRM contact ids.")
    ticketing_user_id: list[str] = Field(default=[], description="Ticketing user ids.")
    name: list[str] = Field(default=[], description="Full name: only redacts free text.")
    requested_by: str = Field(default="", max_length=128, description="Who received it.")
    override_restriction: str = Field(
        default="",
        max_length=500,
        description="Erase although the cooperation is in force: the reason (to the ledger).",
    )

    def identities(self) -> dict[str, list[str]]:
        return {
            kind: values
            for kind in ("email", "phone", "crm_contact_id", "ticketing_user_id", "name")
            if (values := list(getattr(self, kind)))
        }


@dataclass
class Prepared:
    """Everything decided before anything changes."""

    subjects: list[Subject]
    rules: list[Rule]
    restricted: dict[str, list[str]] = field(default_factory=dict)  # request -> datasets
    kept: dict[str, dict[str, str]] = field(default_factory=dict)  # request -> dataset -> why
    already: dict[str, Any] = field(default_factory=dict)  # request id -> its first entry


def prepare(
    requests: Sequence[ErasureRequest],
    policy: Policy,
    connectors: Mapping[str, Connector],
    *,
    now: Any,
    done_before: Mapping[str, Any] | None = None,
) -> Prepared:
    """Validate, resolve and turn a batch of requests into rules."""
    ids = [r.request_id for r in requests]
    if len(set(ids)) != len(ids):
        raise RetentionError("request_id: the same request id appears twice in one batch")
    already = {i: e for i, e in (done_before or {}).items() if i in set(ids)}
    fresh = [r for r in requests if r.request_id not in already]
    subjects = [subject_of(r.request_id, r.identities()) for r in fresh]
    resolve(subjects, connectors)
    by_id = {r.request_id: r for r in fresh}
    prepared = Prepared(subjects, [], already=already)
    for subject in subjects:
        request = by_id[subject.request_id]
        # Restriction answers an erasure; a withdrawn consent is honoured at once.
        erasing = request.kind == "erasure"
        restricted = _restricted(subject, policy, connectors, now) if erasing else []
        if restricted and not request.override_restriction.strip():
            prepared.restricted[subject.request_id] = restricted
        prepared.kept[subject.request_id] = _kept_by_policy(subject, policy, request.kind)
    acting = [s for s in subjects if s.request_id not in prepared.restricted]
    kinds = {s.request_id: by_id[s.request_id].kind for s in acting}
    prepared.rules = _ordered(policy, _rules(policy, connectors, acting, kinds))
    return prepared


def erase(
    requests: Sequence[ErasureRequest],
    policy: Policy,
    policy_hash: str,
    connectors: Mapping[str, Connector],
    ledger: Any | None,
    args: SweepArgs,
    *,
    done_before: Mapping[str, Any] | None = None,
) -> tuple[RunSummary | None, Prepared]:
    """Act on a batch of requests; `args.rules` is ignored (derived here).
    `done_before`: request id -> its entry, for requests acted on before."""
    if done_before is None:
        done_before = ledger.requests_done([r.request_id for r in requests]) if ledger else {}
    prepared = prepare(requests, policy, connectors, now=args.now, done_before=done_before)
    if not prepared.subjects:
        return None, prepared  # every request was acted on before
    erasing = policy.model_copy(update={"rules": prepared.rules or policy.rules[:0]})
    summary = sweep(
        SweepArgs(
            policy=erasing,
            policy_hash=policy_hash,
            run_id=args.run_id,
            now=args.now,
            rules=prepared.rules,
            dry_run=args.dry_run,
            approved_by=args.approved_by,
            trigger=args.trigger,
            lease_wait_s=args.lease_wait_s,
            steps=args.steps,
            after_rules=lambda led, summary: _record_requests(
                led, summary, prepared, {r.request_id: r for r in requests}
            ),
            people_of=_people_index(prepared.subjects),
        ),
        connectors,
        ledger,
    )
    return summary, prepared


def _people_index(subjects: list[Subject]) -> Callable[[str, Sequence[Key]], list[str]]:
    """(dataset, keys) -> the identities of the people those records are."""
    owners: dict[tuple[str, Key], list[Subject]] = {}
    for subject in subjects:
        for name in set(subject.direct) | set(subject.related):
            for key in subject.records(name):
                owners.setdefault((name, key), []).append(subject)

    def people_of(qualified: str, keys: Sequence[Key]) -> list[str]:
        found = {s.request_id: s for k in keys for s in owners.get((qualified, k), [])}
        return sorted({v for s in found.values() for v in s.all_values() | s.names})

    return people_of


# --- rules -----------------------------------------------------------------


def _rules(
    policy: Policy,
    connectors: Mapping[str, Connector],
    subjects: list[Subject],
    kinds: Mapping[str, str],
) -> list[Rule]:
    rules: list[Rule] = []
    for system_name, system in policy.systems.items():
        if system_name not in connectors:
            continue
        for name, dataset in system.datasets.items():
            qualified = f"{system_name}.{name}"
            erasure = dataset.erasure
            if erasure is not None and erasure.action is not None:
                for kind in sorted(set(kinds.values()) & set(erasure.requests)):
                    mine = [s for s in subjects if kinds[s.request_id] == kind]
                    rule = _own_records_rule(qualified, system.kind, dataset, erasure, mine, kind)
                    if rule is not None:
                        rules.append(rule)
            if dataset.free_text and "erasure" in kinds.values():
                connector = connectors[system_name]
                erasing = [s for s in subjects if kinds[s.request_id] == "erasure"]
                rule = _mentions_rule(qualified, name, dataset, connector, erasing, rules)
                if rule is not None:
                    rules.append(rule)
    return rules


def _own_records_rule(
    qualified: str,
    system_kind: str,
    dataset: Dataset,
    erasure: Erasure,
    subjects: list[Subject],
    kind: str,
) -> Rule | None:
    assert erasure.action is not None
    values = sorted({v for s in subjects for v in s.redaction_values()})
    where: list[Condition] = []
    if system_kind == "sql":
        keys: list[Scalar] = sorted({k for s in subjects for k in s.records(qualified)}, key=str)
        if not keys:
            return None
        where = [ColumnCondition(column=dataset.primary_key, op="in", value=keys)]
    else:
        # A media item is found by the subject ids it lists (its facts).
        for id_kind, column in dataset.identity_fields.items():
            ids: list[Scalar] = sorted(
                {v for s in subjects for v in s.identities.get(id_kind, set())}
            )
            if ids:
                where.append(ColumnCondition(column=column, op="in", value=ids))
        if len(where) != 1:
            return None  # no id of the subject, or several kinds (conditions would AND)
    return Rule(
        id=_rule_id(kind, qualified),
        clause=CLAUSE[kind],
        why=erasure.why or f"{kind} request: the subject's records in {qualified}",
        dataset=qualified,
        due=Due(where=where),
        action=_with_values(erasure.action, values),
        holds=list(erasure.holds),
        when_held="anonymise" if erasure.held_action is not None else "keep",
        held_action=_with_values(erasure.held_action, values) if erasure.held_action else None,
    )


def _mentions_rule(
    qualified: str,
    name: str,
    dataset: Dataset,
    connector: Connector,
    subjects: list[Subject],
    earlier: list[Rule],
) -> Rule | None:
    if not subjects or not isinstance(connector, SubjectStore):
        return None
    values = sorted({v for s in subjects for v in s.redaction_values()})
    # One pattern of a whole batch's identifiers costs milliseconds a text:
    # each candidate is searched for only the identifiers whose key it holds,
    # by the redactor itself (nothing compiled per text or per set).
    index = mention_index(tuple(values))

    def mentions(text: str) -> bool:
        relevant = index.relevant(text)
        return bool(relevant) and bool(redaction_spans(text, relevant))

    candidates = connector.find_mentions(name, dataset.free_text, _needles(values), mentions)
    deleted = {
        k
        for rule in earlier
        if rule.dataset == qualified and rule.action.kind == "delete"
        for cond in rule.due.where
        if isinstance(cond, ColumnCondition) and isinstance(cond.value, list)
        for k in cond.value
    }
    keys: list[Scalar] = [k for k in candidates if k not in deleted]
    if not keys:
        return None
    redact = [Strategy(strategy="redact", values=values)]
    return Rule(
        id=_rule_id("mentions", qualified),
        clause=CLAUSE["erasure"],
        why=f"the subject named in free text of {qualified}, also in other people's rows",
        dataset=qualified,
        due=Due(where=[ColumnCondition(column=dataset.primary_key, op="in", value=keys)]),
        action=Action(kind="anonymise", fields={c: redact for c in dataset.free_text}),
    )


def _needles(values: Sequence[str]) -> list[str]:
    """Substrings that any written form of these values contains, for the
    candidate search: emails whole, phone numbers' last seven digits, and
    the start all forms of a name word share (Virtanen -> virta, for
    Virtasen; Laine -> laine)."""
    out: set[str] = set()
    for value in values:
        if "@" in value:
            out.add(value)
        elif identity.looks_like_phone(value):
            digits = "".join(c for c in value if c.isdigit())
            out.add(digits[-7:])
        else:
            for word in value.split():
                if len(word) >= 3:
                    stem = name_stem(word)
                    out.add(stem if len(stem) >= 3 else word[:3])
    return sorted(out)


def _with_values(action: Action | None, values: list[str]) -> Action:
    """The action, its redact steps given the subjects' own identifiers."""
    assert action is not None
    fields = {
        column: [
            s.model_copy(update={"values": values}) if s.strategy == "redact" else s for s in chain
        ]
        for column, chain in action.fields.items()
    }
    return action.model_copy(update={"fields": fields})


def _rule_id(kind: str, qualified: str) -> str:
    return f"{kind}-{qualified.replace('.', '-')}"


def _ordered(policy: Policy, rules: list[Rule]) -> list[Rule]:
    """Rules in an order where no rule hides another's records (readers
    first), otherwise as the policy lists its datasets."""
    deps = dependencies(policy, rules)
    remaining = list(rules)
    ordered: list[Rule] = []
    while remaining:
        placed = {r.id for r in ordered}
        ready = [
            r
            for r in remaining
            if all(d.first in placed for d in deps if d.then == r.id and d.first != r.id)
        ]
        chosen = ready[0] if ready else remaining[0]  # a cycle: keep the listed order
        ordered.append(chosen)
        remaining.remove(chosen)
    return ordered


# --- restriction and what the policy keeps ----------------------------------


def _restricted(
    subject: Subject, policy: Policy, connectors: Mapping[str, Connector], now: Any
) -> list[str]:
    """Datasets where a record of the subject matches `restrict_when`."""
    found: list[str] = []
    for system_name, system in policy.systems.items():
        for name, dataset in system.datasets.items():
            erasure = dataset.erasure
            qualified = f"{system_name}.{name}"
            keys: list[Scalar] = sorted(subject.records(qualified), key=str)
            if erasure is None or not erasure.restrict_when or not keys:
                continue
            probe = Rule(
                id="restriction-check",
                clause="restriction of processing",
                why="is the cooperation in force?",
                dataset=qualified,
                due=Due(
                    where=[
                        ColumnCondition(column=dataset.primary_key, op="in", value=keys),
                        *erasure.restrict_when,
                    ]
                ),
                action=Action(kind="delete"),
            )
            if plan_rule(probe, policy, connectors, now=now).due:
                found.append(qualified)
    return found


def _kept_by_policy(subject: Subject, policy: Policy, kind: str) -> dict[str, str]:
    """Datasets holding the subject's records that the policy keeps, and why."""
    kept: dict[str, str] = {}
    for system_name, system in policy.systems.items():
        for name, dataset in system.datasets.items():
            erasure = dataset.erasure
            qualified = f"{system_name}.{name}"
            held = erasure is not None and erasure.keep and kind in erasure.requests
            if held and erasure is not None and erasure.keep and subject.records(qualified):
                kept[qualified] = erasure.keep
    return kept


# --- the request entries ----------------------------------------------------


def _record_requests(
    ledger: Any,
    summary: RunSummary,
    prepared: Prepared,
    requests: Mapping[str, ErasureRequest],
) -> None:
    """One `request` entry per request: what was done to its records, from
    the run's own completions and kept entries, so the certificate can be
    built from the ledger alone."""
    entries = ledger.entries(summary.run_id)
    # Each entry's hashes as sets once, not per request: a batch of a
    # thousand requests against entries of a thousand keys each.
    sets: dict[int, _EntrySets] = {}
    mentions = _mention_counts(entries, summary)
    written: list[dict[str, Any]] = []
    for subject in prepared.subjects:
        request = requests[subject.request_id]
        datasets: dict[str, dict[str, Any]] = {}
        for qualified in sorted(set(subject.direct) | set(subject.related)):
            keys = subject.records(qualified)
            counts = _counts_for(ledger, entries, qualified, keys, sets)
            if any(counts.values()):
                datasets[qualified] = counts
        for qualified, why in prepared.kept.get(subject.request_id, {}).items():
            datasets.setdefault(qualified, {})["kept_by_policy"] = why
        restricted = prepared.restricted.get(subject.request_id, [])
        status = _request_status(summary, subject, restricted)
        written.append(
            {
                "run_id": summary.run_id,
                "request_id": subject.request_id,
                "kind": request.kind,
                "status": status,
                "subjects": sorted(subject.all_values() | subject.names),
                "requested_by": request.requested_by,
                "datasets": datasets,
                "restricted": restricted,
                "override": request.override_restriction,
                "mentions": mentions,
            }
        )
    # One ledger transaction for the batch's entries, not a commit each.
    ledger.record_requests(written)


_EntrySets = tuple[frozenset[str], dict[str, frozenset[str]]]


def _sets_of(entry: Any, sets: dict[int, _EntrySets]) -> _EntrySets:
    if id(entry) not in sets:
        cascaded = {k: frozenset(v) for k, v in entry.cascaded_hashes.items()}
        sets[id(entry)] = (frozenset(entry.key_hashes), cascaded)
    return sets[id(entry)]


def _counts_for(
    ledger: Any,
    entries: Sequence[Any],
    qualified: str,
    keys: set[Any],
    sets: dict[int, _EntrySets] | None = None,
) -> dict:
    sets = {} if sets is None else sets
    system, dataset = split_name(qualified)
    hashes = {ledger.hash(k) for k in keys}
    counts: dict[str, Any] = {"deleted": 0, "anonymised": 0, "removed_with_parent": 0}
    kept: dict[tuple[str, str | None, str], int] = {}
    for entry in entries:
        if entry.kind == "completion" and entry.system == system and entry.dataset == dataset:
            if entry.rule_id and entry.rule_id.startswith("mentions-"):
                continue
            done = len(hashes & _sets_of(entry, sets)[0])
            counts["deleted" if entry.action == "delete" else "anonymised"] += done
        if entry.kind == "completion" and entry.system == system:
            counts["removed_with_parent"] += len(
                hashes & _sets_of(entry, sets)[1].get(qualified, frozenset())
            )
        if entry.kind in ("kept", "completion") and entry.dataset == dataset:
            for record in entry.kept:
                if record.key_hash in hashes:
                    group = (record.hold_id, record.until, record.note)
                    kept[group] = kept.get(group, 0) + 1
    if kept:
        counts["kept"] = [
            {"hold": hold, "until": until, "note": note, "count": n}
            for (hold, until, note), n in sorted(kept.items(), key=lambda i: str(i[0]))
        ]
    return counts


def _mention_counts(entries: Sequence[Any], summary: RunSummary) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in entries:
        if entry.kind == "completion" and (entry.rule_id or "").startswith("mentions-"):
            where = f"{entry.system}.{entry.dataset}"
            out[where] = out.get(where, 0) + entry.count
    return out


def _request_status(summary: RunSummary, subject: Subject, restricted: list[str]) -> str:
    if restricted:
        return "restricted"
    if not subject.direct and not subject.related:
        return "nothing-held"
    if summary.dry_run:
        return "dry-run"
    return {"completed": "completed", "failed": "failed"}.get(summary.status, "incomplete")
