"""Who a request is about, everywhere: from the identities a person gave to
every record of theirs in every system.

Rounds, set-wise for a whole batch of requests: ask every system for the
records holding any known identity; attribute each record to the requests
whose identities it holds; adopt the record's own ids and emails as the
request's identities (the CRM contact's id finds the photos it appears in,
its email the ticketing user); repeat until nothing new is found. Phone
numbers are never adopted from a record (a switchboard number is shared by
a company's people), and a name is never used to find anyone (two people
share names): names only redact. Then, in SQL systems, the records below
the subject's through relations (a user's tickets, their comments).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from retention import identity
from retention.connector import Connector, Key, RelatedByOwner, SubjectStore
from retention.errors import IdentityError
from retention.logs import get_logger

log = get_logger("retention.subject")

MAX_ROUNDS = 5
ADOPTED_KINDS = ("email", "crm_contact_id", "ticketing_user_id")
MATCHING_KINDS = ("email", "phone", "crm_contact_id", "ticketing_user_id")


@dataclass
class Subject:
    """One request's person: identities (canonical, per kind), names for
    redaction only, and the records found, per qualified dataset."""

    request_id: str
    identities: dict[str, set[str]]
    names: set[str] = field(default_factory=set)
    # Phone numbers read off the person's records: redacted from text, never
    # used to find anyone (a company's switchboard number is shared).
    phones: set[str] = field(default_factory=set)
    direct: dict[str, set[Key]] = field(default_factory=dict)  # hold an identity
    related: dict[str, set[Key]] = field(default_factory=dict)  # below those, by relations

    def records(self, qualified: str) -> set[Key]:
        return self.direct.get(qualified, set()) | self.related.get(qualified, set())

    def all_values(self) -> set[str]:
        return {v for values in self.identities.values() for v in values}

    def redaction_values(self) -> list[str]:
        """What to remove from free text: names, emails, phone numbers."""
        wanted = ("email", "phone")
        texts = {v for k in wanted for v in self.identities.get(k, set())}
        return sorted(texts | self.names | self.phones)


def subject_of(request_id: str, given: Mapping[str, Sequence[str]]) -> Subject:
    """Validate a request's identities (refusing empty, wildcard, malformed)."""
    names = [str(v) for v in given.get("name", [])]
    matching = {k: list(v) for k, v in given.items() if k != "name" and v}
    if not matching:
        raise IdentityError(
            "no identity to find the person by: give an email, phone, CRM contact id or "
            "ticketing user id (a name alone would find namesakes)"
        )
    valid = identity.validate(matching)
    subject = Subject(request_id, {k: set(v) for k, v in valid.items()})
    subject.names = {identity.normalise("name", n) for n in names}
    return subject


def resolve(subjects: list[Subject], connectors: Mapping[str, Connector]) -> None:
    """Fill each subject's records, in place."""
    if not subjects:
        return
    # Who holds which value, kept current as identities are adopted: asking
    # every subject about every record costs requests x records (a batch of
    # a thousand spent minutes here).
    holders = _Holders(subjects)
    for round_number in range(1, MAX_ROUNDS + 1):
        union = _union(subjects)
        grew = False
        for system, connector in connectors.items():
            for dataset, rows in _records(connector, union).items():
                qualified = f"{system}.{dataset}"
                for key, values in rows.items():
                    canon = {(kind, identity.canonical(v)) for kind, v in values}
                    for subject in holders.of(canon):
                        subject.direct.setdefault(qualified, set()).add(key)
                        if _adopt(subject, canon):
                            grew = True
                            holders.add(subject)
        log.info("subjects resolved", round=round_number, requests=len(subjects))
        if not grew:
            break
    for system, connector in connectors.items():
        if isinstance(connector, SubjectStore):
            _add_related(subjects, system, connector)


class _Holders:
    """Which subjects a record holding these (kind, value) is of, in request
    order: those holding the value as that kind. A media item's values come
    without a kind: any of the subject's values counts."""

    def __init__(self, subjects: list[Subject]) -> None:
        self.order = {id(s): n for n, s in enumerate(subjects)}
        self.by_kind: dict[tuple[str, str], dict[int, Subject]] = {}
        self.by_value: dict[str, dict[int, Subject]] = {}
        for subject in subjects:
            self.add(subject)

    def add(self, subject: Subject) -> None:
        for kind, values in subject.identities.items():
            for value in values:
                self.by_kind.setdefault((kind, value), {})[id(subject)] = subject
                self.by_value.setdefault(value, {})[id(subject)] = subject

    def of(self, canon: set[tuple[str, str]]) -> list[Subject]:
        found: dict[int, Subject] = {}
        for kind, value in canon:
            holding = self.by_kind.get((kind, value)) if kind else self.by_value.get(value)
            found.update(holding or {})
        return sorted(found.values(), key=lambda s: self.order[id(s)])


def _union(subjects: list[Subject]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for subject in subjects:
        for kind, values in subject.identities.items():
            if kind in MATCHING_KINDS:
                out.setdefault(kind, set()).update(values)
    return {k: sorted(v) for k, v in out.items() if v}


def _records(
    connector: Connector, union: Mapping[str, Sequence[str]]
) -> dict[str, dict[Key, list[tuple[str, str]]]]:
    if isinstance(connector, SubjectStore):
        return connector.subject_records(union)
    # A media store knows identities per item only as facts: read the found
    # items' identities one by one (cost grows with the items found).
    out: dict[str, dict[Key, list[tuple[str, str]]]] = {}
    for dataset, keys in connector.find_subject(union).items():
        out[dataset] = {
            key: [("", value) for value in connector.identities(dataset, [key])] for key in keys
        }
    return out


def _adopt(subject: Subject, canon: set[tuple[str, str]]) -> bool:
    grew = False
    for kind, value in canon:
        if kind == "name":
            subject.names.add(value)
        elif kind == "phone":
            subject.phones.add(value)
        elif kind in ADOPTED_KINDS and value not in subject.identities.get(kind, set()):
            try:
                identity.normalise(kind, value)
            except IdentityError:
                continue  # a stored value that is not a valid identity finds nothing
            subject.identities.setdefault(kind, set()).add(value)
            grew = True
    return grew


def _add_related(subjects: list[Subject], system: str, connector: SubjectStore) -> None:
    # The whole batch per dataset in one call: a call per subject and
    # dataset cost a statement per subject, relation and level.
    owners: dict[str, dict[Key, set[str]]] = {}
    for subject in subjects:
        for qualified, keys in subject.direct.items():
            owner, dataset = qualified.split(".", 1)
            if owner == system:
                for key in keys:
                    owners.setdefault(dataset, {}).setdefault(key, set()).add(subject.request_id)
    by_id = {s.request_id: s for s in subjects}
    for dataset, owned in owners.items():
        found = None
        if isinstance(connector, RelatedByOwner):
            found = connector.related_by_owner(dataset, owned)
        if found is None:
            _add_related_one_by_one(subjects, system, dataset, connector)
            continue
        for child, records in found.items():
            for key, request_ids in records.items():
                for request_id in request_ids:
                    by_id[request_id].related.setdefault(f"{system}.{child}", set()).add(key)


def _add_related_one_by_one(
    subjects: list[Subject], system: str, dataset: str, connector: SubjectStore
) -> None:
    for subject in subjects:
        keys = subject.direct.get(f"{system}.{dataset}")
        if not keys:
            continue
        for child, child_keys in connector.related(dataset, sorted(keys, key=str)).items():
            subject.related.setdefault(f"{system}.{child}", set()).update(child_keys)
