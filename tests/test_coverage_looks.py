"""What looks personal to the coverage check, by a column's name and by a
sample of its values, and what does not (ids, codes, dates, amounts); and
that the policy's allow-list is validated."""

from __future__ import annotations

import pytest

from retention.coverage.looks import name_kinds, value_kinds
from retention.errors import PolicyError
from retention.policy_loader import load_policy
from tests.demo_world import policy_with


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("mobile_phone", "phone"),
        ("mobilePhone", "phone"),
        ("work_email", "email"),
        ("surname", "name"),
        ("street_address", "address"),
        ("last_login_ip", "ip address"),
        ("date_of_birth", "birth date"),
    ],
)
def test_a_personal_column_name_is_flagged(column: str, kind: str) -> None:
    assert kind in name_kinds(column)


@pytest.mark.parametrize("column", ["amount_cents", "status", "created_at", "shipping", "tips"])
def test_an_ordinary_column_name_is_not(column: str) -> None:
    assert name_kinds(column) == []


def test_values_are_judged_by_what_they_hold() -> None:
    assert value_kinds(["a.b@example.fi", "c@d.se", "e@f.com"]) == ["email"]
    assert value_kinds(["040 123 4567", "+358 50 765 4321"]) == ["phone"]
    assert value_kinds(["10.0.0.1", "2001:db8::1"]) == ["ip address"]
    assert value_kinds(["Customer said: write to anna@example.fi", "ok"]) == [
        "free text with emails"
    ]
    assert value_kinds(["Call me back on 040 123 4567 please"]) == ["free text with phone numbers"]
    # Business ids, dates, amounts, codes and plain prose are not people.
    ordinary = ["2578204-5", "2024-01-31", "435000", "IDN-2022-00153", "web form", "Fixed."]
    assert value_kinds(ordinary) == []
    # One stray address among ids does not make an email column.
    assert value_kinds(["x@y.fi", *[str(n) for n in range(10)]]) == []


def _invalid(tmp_path, reviewed: dict) -> str:
    path = policy_with(tmp_path, lambda d: d["systems"]["crm"]["reviewed"].append(reviewed))
    with pytest.raises(PolicyError) as raised:
        load_policy(path, resolve=lambda ref: "not-a-real-secret-value")
    return str(raised.value)


def test_the_allow_list_cannot_contradict_the_policy(tmp_path) -> None:
    declared = {"table": "contacts", "columns": ["email"], "reason": "an address is fine, says who"}
    assert "column 'email' is declared by a dataset" in _invalid(tmp_path, declared)
    whole = {"table": "contacts", "reason": "the whole table is harmless, surely"}
    assert "name the undeclared columns reviewed" in _invalid(tmp_path, whole)
    media = {"prefix": "thumbs/", "reason": "no people in thumbnails at all"}
    assert "name a `table`" in _invalid(tmp_path, media)
    short = {"table": "leads", "reason": "ok"}
    assert "reason" in _invalid(tmp_path, short)


def test_what_relations_name_is_covered_and_a_reviewed_column_is_not_read(tmp_path) -> None:
    from retention.coverage.check import TableInventory, sql_findings

    def link(data: dict) -> None:
        data["systems"]["crm"]["datasets"]["contacts"]["relations"].append(
            {
                "child": "web_visits",
                "through": {"table": "visit_links", "parent_column": "c", "child_column": "v"},
            }
        )

    path = policy_with(tmp_path, link)
    crm = load_policy(path, resolve=lambda ref: "not-a-real-secret-value").policy.systems["crm"]
    read: list[tuple[str, str]] = []

    def sample(table: str, column: str) -> list[str]:
        read.append((table, column))
        return ["someone@example.fi"]

    tables = [
        TableInventory("visit_links", ["c", "v"]),
        TableInventory("companies", ["id", "name", "street_address"], {"name", "street_address"}),
        TableInventory("leads", ["id", "notes"], {"notes"}),
    ]
    found = {f.where: f for f in sql_findings("crm", crm, tables, sample)}

    assert "crm.visit_links" not in found, "a link table the policy describes is covered"
    assert found["crm.companies.name"].reviewed and not found["crm.companies.name"].fails(True)
    assert found["crm.leads"].personal == ("email (values) in notes",)
    assert read == [("leads", "notes")], "reviewed columns are not sampled"


def test_a_fact_index_s_columns_are_covered_by_the_media_dataset_that_reads_them(tmp_path):
    from retention.coverage.check import TableInventory, sql_findings

    def index(data: dict) -> None:
        data["systems"]["crm"]["datasets"]["media_index"] = {"table": "media_index"}
        data["systems"]["media"]["datasets"]["photos"]["facts"] = {
            "source": "index",
            "index": "crm.media_index",
            "names": {"captured_at": "taken_at"},
        }

    policy = load_policy(policy_with(tmp_path, index), resolve=lambda ref: "x" * 20).policy
    columns = ["id", "object_key", "taken_at", "subjects", "consent_ref", "photographer"]
    tables = [TableInventory("media_index", columns)]

    found = sql_findings("crm", policy.systems["crm"], tables, lambda t, c: [], policy)

    assert [f.where for f in found] == ["crm.media_index.photographer"]
