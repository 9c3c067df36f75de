"""Property: whatever identity an erasure request is given (real ones in
other spellings, near misses, SQL fragments, wildcards, unicode look-alikes,
very long strings, whitespace), it either is refused before any query runs,
or changes only the records of the people who really hold that exact
identity (email case-folded, phone as E.164, an id as written), plus
redacted mentions of them in free-text columns of other people's rows.

On the helpdesk schema (tests/third_party.py), SQLite, built once and
copied per example."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from retention.errors import IdentityError, RetentionError
from retention.pipeline.erase import ErasureRequest
from tasks.erase import run_erase
from tests.oracle import Snapshot, snapshot
from tests.test_erasure_third_party import AS_OF, HASH_KEY
from tests.third_party import HELPDESK_POLICY, build, helpdesk, helpdesk_rows, person

USERS = 8
KINDS = ("email", "phone", "ticketing_user_id", "crm_contact_id")
FREE_TEXT = {"hd_tickets": {"subject"}, "hd_thread_entries": {"title", "body"}}

LOOK_ALIKES = {"a": "а", "e": "е", "o": "о", "i": "і", "c": "с", "p": "р", "1": "１", "0": "０"}
HOSTILE = [
    "", " ", "\t\n", "%", "_", "*", "?", "%@example.com", "_%@%", "*@example.fi",
    "matti.virtanen@example.f%", "' OR '1'='1", "x' OR 1=1 --", "3 OR 1=1",
    "3; DROP TABLE hd_users",
    "1) OR (1=1", "\\", "\\%", "3%", "0", "-", "00", "03", " 3 ", "3.0", "+3", "-3", "0x3",
    "%40%", "matti.virtanen@example.fi\x00", "matti.virtanen@example.fi\u200b",
    "matti.virtanen@example.fi' --", "040 123 456%", "+358 40 123 4567 OR 1=1",
    "x" * 10_000, "a" * 5_000 + "@example.fi", "9" * 5_000,
]  # fmt: skip


def real_values() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for i in range(1, USERS + 1):
        p = person(i)
        out += [("email", e) for e in p.emails] + [("phone", p.phone)]
        out.append(("ticketing_user_id", str(i)))
    return out


def _respelt(kind_value: tuple[str, str], how: int) -> tuple[str, str]:
    kind, value = kind_value
    if how == 0:
        return kind, value.upper()
    if how == 1:
        return kind, f"  {value}\t"
    if how == 2:
        return kind, value.replace(" ", "-") if kind == "phone" else value[1:]
    if how == 3:
        return kind, "".join(LOOK_ALIKES.get(c, c) for c in value)
    if how == 4 and kind == "phone":
        return kind, "0" + value.replace(" ", "")[4:]  # the national form
    return kind, value + "x"


identities = st.one_of(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(HOSTILE)),
    st.tuples(st.sampled_from(KINDS), st.text(max_size=30)),
    st.tuples(
        st.sampled_from(KINDS),
        st.builds(lambda a, b: f"{a}@{b}", st.text("%_*'\";- a.", max_size=8), st.text(max_size=8)),
    ),
    st.builds(_respelt, st.sampled_from(real_values()), st.integers(0, 5)),
    st.sampled_from(real_values()),
)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("helpdesk") / "db.sqlite"
    build(f"sqlite:///{path}", helpdesk, helpdesk_rows(USERS))
    yield path


@pytest.fixture(scope="module")
def reference(built: Path) -> Snapshot:
    return snapshot(f"sqlite:///{built}")


@pytest.fixture(scope="module")
def queries() -> Iterator[list[str]]:
    """Every statement any engine sends, from the moment it is cleared."""
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    yield sent
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)


NUMBER = itertools.count()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(identity=identities)
@example(identity=("ticketing_user_id", "03"))
@example(identity=("ticketing_user_id", "3"))
@example(identity=("email", "MATTI.VIRTANEN@EXAMPLE.FI "))
@example(identity=("email", "mаtti.virtanen@example.fi"))  # a Cyrillic а
@example(identity=("phone", "040-123 4567"))
@example(identity=("phone", "+358 40 123 456%"))
@example(identity=("email", "%@example.com"))
def test_any_identity_is_refused_before_a_query_or_changes_only_its_holders(
    identity: tuple[str, str], built: Path, reference: Snapshot, queries: list[str], tmp_path
):
    kind, value = identity
    run = tmp_path / f"run-{next(NUMBER)}"
    run.mkdir()
    db = run / "db.sqlite"
    shutil.copyfile(built, db)
    env = {
        "RETENTION_HELPDESK_URL": f"sqlite:///{db}",
        "RETENTION_HASH_KEY": HASH_KEY,
        "RETENTION_LEDGER_URL": f"sqlite:///{run / 'ledger.db'}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    queries.clear()
    try:
        request = ErasureRequest.model_validate({"request_id": "P-1", kind: [value]})
        try:
            run_erase(str(HELPDESK_POLICY), [request], as_of=AS_OF)
        except (IdentityError, RetentionError):
            assert queries == [], f"refused after {len(queries)} queries"
            assert snapshot(f"sqlite:///{db}") == reference
            return
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    holders = _holders(kind, value)
    after = snapshot(f"sqlite:///{db}")
    theirs = _records_of(reference, holders)
    for table, rows in reference.items():
        for key, old in rows.items():
            if key in theirs.get(table, set()):
                continue
            new = after[table].get(key)
            assert new is not None, f"{kind}={value!r} removed {table} {key} (holders {holders})"
            changed = {c for c in old if old[c] != new[c]}
            assert changed <= FREE_TEXT.get(table, set()), (kind, value, table, key, changed)
            assert all("[redacted]" in new[c] for c in changed), (kind, value, table, key)
    if holders:
        assert _gone(after, holders), f"{kind}={value!r}: the holders' user rows remain"


def _gone(after: Snapshot, holders: set[int]) -> bool:
    return not holders & set(after["hd_users"])


def _holders(kind: str, value: str) -> set[int]:
    """The users who hold exactly this identity, by the test's own reading."""
    text = value.strip()
    found: set[int] = set()
    for i in range(1, USERS + 1):
        p = person(i)
        held = {
            "email": text.casefold() in {e.casefold() for e in p.emails},
            "phone": _e164(text) is not None and _e164(text) == _e164(p.phone),
            "ticketing_user_id": text == str(i),
        }
        if held.get(kind):
            found.add(i)
    return found


def _e164(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "FI")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _records_of(snap: Snapshot, users: set[int]) -> dict[str, set[Any]]:
    def where(table: str, test: Any) -> set[Any]:
        return {k for k, r in snap[table].items() if test(r)}

    tickets = where("hd_tickets", lambda r: r["user_id"] in users)
    objects = {("T", t) for t in tickets} | {("U", u) for u in users}
    threads = where("hd_threads", lambda r: (r["object_type"], r["object_id"]) in objects)
    return {
        "hd_users": users,
        "hd_user_emails": where("hd_user_emails", lambda r: r["user_id"] in users),
        "hd_user_accounts": where("hd_user_accounts", lambda r: r["user_id"] in users),
        "hd_sessions": where("hd_sessions", lambda r: r["user_id"] in {str(u) for u in users}),
        "hd_tickets": tickets,
        "hd_threads": threads,
        "hd_thread_entries": where(
            "hd_thread_entries", lambda r: r["thread_id"] in threads or r["user_id"] in users
        ),
    }
