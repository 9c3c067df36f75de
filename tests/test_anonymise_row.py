"""RowAnonymiser: what the connector writes back for one row."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from retention.anonymise import AnonymisationError, build_anonymiser, keyed_hash
from retention.policy import Action, Strategy

KEY = b"row-test-key-0123"


def fields_of(spec: dict[str, Any]) -> dict[str, list[Strategy]]:
    """Fields as the policy file gives them (YAML mapping -> validated Action)."""
    return Action.model_validate({"kind": "anonymise", "fields": spec}).fields


CONTACT_FIELDS = fields_of(
    {
        "first_name": {"strategy": "null"},
        "last_name": {"strategy": "constant", "value": "anonymised"},
        "email": {"strategy": "keyed_hash"},
        "birth_date": {"strategy": "generalise_date", "to": "year"},
        "phone": {"strategy": "fake", "fake": "phone"},
        "notes": {
            "strategy": "redact",
            "identifiers": ["first_name", "last_name", "email", "phone", "companies.name"],
        },
    }
)


def contact(**overrides: Any) -> dict[str, Any]:
    row = {
        "id": 42,
        "first_name": "Matti",
        "last_name": "Virtanen",
        "email": "matti.virtanen@example.fi",
        "birth_date": date(1984, 5, 17),
        "phone": "+358 40 123 4567",
        "notes": "Soitin Virtaselle 040-123 4567, Matti works at Koskinen Oy. Kiva.",
        "companies.name": "Koskinen Oy",
        "status": "active",
    }
    return row | overrides


@pytest.fixture
def anonymise():
    return build_anonymiser(CONTACT_FIELDS, hash_key=KEY, primary_key="id")


def test_each_strategy_gives_its_value(anonymise) -> None:
    changes = anonymise(contact())
    assert changes["first_name"] is None
    assert changes["last_name"] == "anonymised"
    assert changes["email"] == keyed_hash("matti.virtanen@example.fi", KEY)
    assert changes["birth_date"] == date(1984, 1, 1)
    assert changes["phone"].startswith("+44 7700 900")
    assert changes["notes"] == "Soitin [redacted] [redacted], [redacted] works at [redacted]. Kiva."


def test_only_changed_columns_are_returned(anonymise) -> None:
    changes = anonymise(contact(first_name=None, birth_date=date(1984, 1, 1)))
    assert "first_name" not in changes
    assert "birth_date" not in changes
    assert "id" not in changes and "status" not in changes


def test_an_anonymised_row_gives_no_changes(anonymise) -> None:
    row = contact()
    once = row | anonymise(row)
    assert anonymise(once) == {}


def test_redact_reads_identifiers_from_the_row_before_they_are_nulled() -> None:
    anonymise = build_anonymiser(
        fields_of(
            {
                "first_name": {"strategy": "null"},
                "last_name": {"strategy": "null"},
                "notes": {"strategy": "redact", "identifiers": ["first_name", "last_name"]},
            }
        ),
        hash_key=KEY,
        primary_key="id",
    )
    changes = anonymise(
        {"id": 1, "first_name": "Matti", "last_name": "Virtanen", "notes": "Virtanen, Matti called"}
    )
    assert changes == {"first_name": None, "last_name": None, "notes": "[redacted] called"}


def test_a_chain_applies_left_to_right() -> None:
    anonymise = build_anonymiser(
        fields_of(
            {
                "title": [{"strategy": "null"}, {"strategy": "constant", "value": "-"}],
                "joined": [
                    {"strategy": "generalise_date", "to": "month"},
                    {"strategy": "keyed_hash"},
                ],
            }
        ),
        hash_key=KEY,
        primary_key="id",
    )
    changes = anonymise({"id": 1, "title": "CEO", "joined": "2021-03-09"})
    assert changes == {"title": "-", "joined": keyed_hash("2021-03-01", KEY)}


def test_fakes_are_the_same_on_a_rerun_and_differ_between_rows() -> None:
    fields = fields_of({"name": {"strategy": "fake", "fake": "name"}})
    first = build_anonymiser(fields, hash_key=KEY, primary_key="id")
    again = build_anonymiser(fields, hash_key=KEY, primary_key="id")
    row = {"id": 7, "name": "Matti Virtanen"}
    assert first(row) == again(row)
    names = {first({"id": i, "name": "Matti Virtanen"})["name"] for i in range(20)}
    assert len(names) > 10


def test_a_row_lacking_a_needed_column_is_refused_naming_it(anonymise) -> None:
    row = contact()
    del row["companies.name"]
    del row["birth_date"]
    with pytest.raises(AnonymisationError, match="birth_date, companies.name"):
        anonymise(row)


def test_columns_and_parent_columns_say_what_the_connector_must_fetch(anonymise) -> None:
    assert anonymise.columns == {
        "id",
        "first_name",
        "last_name",
        "email",
        "birth_date",
        "phone",
        "notes",
    }
    assert anonymise.parent_columns == {"companies": frozenset({"name"})}


def test_a_non_date_in_a_date_field_names_the_column_not_the_value(anonymise) -> None:
    with pytest.raises(AnonymisationError, match="'birth_date'.*int") as raised:
        anonymise(contact(birth_date=19840517))
    assert "19840517" not in str(raised.value)


def test_redacting_a_non_text_column_is_refused_naming_it(anonymise) -> None:
    with pytest.raises(AnonymisationError, match="'notes'.*int"):
        anonymise(contact(notes=5))


def test_the_primary_key_cannot_be_anonymised() -> None:
    with pytest.raises(AnonymisationError, match="'id'.*primary key"):
        build_anonymiser(
            fields_of({"id": {"strategy": "keyed_hash"}}), hash_key=KEY, primary_key="id"
        )


def test_a_row_without_a_primary_key_value_is_refused(anonymise) -> None:
    with pytest.raises(AnonymisationError, match="'id'"):
        anonymise(contact(id=None))


def test_an_empty_key_is_refused_before_any_row() -> None:
    with pytest.raises(AnonymisationError, match="hash_key"):
        build_anonymiser(CONTACT_FIELDS, hash_key=b"", primary_key="id")


def test_a_malformed_identifier_reference_is_refused() -> None:
    fields = fields_of({"notes": {"strategy": "redact", "identifiers": ["a.b.c"]}})
    with pytest.raises(AnonymisationError, match="'notes'.*'a.b.c'"):
        build_anonymiser(fields, hash_key=KEY, primary_key="id")


def test_the_key_never_shows_in_the_repr(anonymise) -> None:
    assert KEY.decode() not in repr(anonymise)


def test_empty_fields_stay_empty_and_unchanged(anonymise) -> None:
    changes = anonymise(contact(email=None, phone=None, notes=None, birth_date=None))
    assert not {"email", "phone", "notes", "birth_date"} & changes.keys()
