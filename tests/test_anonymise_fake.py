"""Deterministic fakes: never a real person, the same one on every run."""

from __future__ import annotations

import hashlib
import re

import pytest

from retention.anonymise import FAKE_EMAIL_DOMAIN, AnonymisationError, build_anonymiser
from retention.policy import Action

KEY = b"fake-test-key-0123"
KINDS = ["name", "first_name", "last_name", "email", "phone", "company", "address", "city", "text"]


def anonymiser():
    fields = Action.model_validate(
        {"kind": "anonymise", "fields": {k: {"strategy": "fake", "fake": k} for k in KINDS}}
    ).fields
    return build_anonymiser(fields, hash_key=KEY, primary_key="id")


def row(pk: int) -> dict[str, object]:
    return {"id": pk} | {kind: "original" for kind in KINDS}


def test_every_kind_gives_a_non_empty_text_unlike_the_original() -> None:
    changes = anonymiser()(row(1))
    assert set(changes) == set(KINDS)
    assert all(isinstance(v, str) and v and v != "original" for v in changes.values())


def test_one_row_gets_one_consistent_person() -> None:
    for pk in range(30):
        fake = anonymiser()(row(pk))
        assert fake["name"] == f"{fake['first_name']} {fake['last_name']}"


@pytest.mark.parametrize("pk", range(50))
def test_emails_are_under_a_reserved_domain_and_phones_in_a_drama_range(pk: int) -> None:
    fake = anonymiser()(row(pk))
    assert re.fullmatch(rf"[a-z0-9.]+@{re.escape(FAKE_EMAIL_DOMAIN)}", fake["email"])
    assert re.fullmatch(r"\+44 7700 900\d{3}", fake["phone"])


def test_fake_emails_do_not_collide_between_rows() -> None:
    emails = [anonymiser()(row(pk))["email"] for pk in range(500)]
    assert len(set(emails)) == len(emails)


def test_names_come_from_the_finnish_swedish_and_english_locales() -> None:
    names = {anonymiser()(row(pk))["last_name"] for pk in range(200)}
    assert any(re.search(r"nen$|[äöå]", n) for n in names), "no Finnish or Swedish name"
    assert any(not re.search(r"[äöå]|nen$|son$", n) for n in names), "no English name"


def test_another_key_gives_another_fake() -> None:
    fields = Action.model_validate(
        {"kind": "anonymise", "fields": {"email": {"strategy": "fake", "fake": "email"}}}
    ).fields
    one = build_anonymiser(fields, hash_key=KEY, primary_key="id")
    other = build_anonymiser(fields, hash_key=b"another-key", primary_key="id")
    assert one({"id": 1, "email": "x"}) != other({"id": 1, "email": "x"})


def test_an_unknown_kind_is_refused() -> None:
    from retention.anonymise import fake_value

    with pytest.raises(AnonymisationError, match="'ssn'"):
        fake_value("ssn", hashlib.sha256(b"x").digest())
