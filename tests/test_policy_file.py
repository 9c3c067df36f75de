"""deployments/id-north/policy.yaml: it loads, it covers the register, it
quotes it, and a broken copy is refused with the file and the place named."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from retention.demo import demo_env
from retention.errors import PolicyError
from retention.policy_loader import LoadedPolicy, load_policy

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "deployments" / "id-north" / "policy.yaml"
REGISTER_FI = Path("/work/shared/register-fi.txt")

# Each retention row of REGISTER.md -> the rules that enforce it.
REGISTER_ROWS = {
    "customer / partner representatives and employees": [
        "crm-contact-after-cooperation",
        "crm-invoice-billing-person",
        "crm-contractor-reports",
    ],
    "marketing data": [
        "crm-newsletter-unsubscribed",
        "crm-newsletter-consent-withdrawn",
        "crm-prospect-marketing-withdrawn",
    ],
    "e-service (ticketing login) data": [
        "ticketing-logins-after-deregistration",
        "ticketing-comments-of-deregistered",
        "ticketing-tickets-of-deregistered",
        "ticketing-users-after-deregistration",
    ],
    "photos, videos, audio": ["media-photos-five-years", "media-photos-consent-withdrawn"],
    "web-site data (cookies, IP)": ["crm-web-visits"],
}


@pytest.fixture
def env(monkeypatch, tmp_path) -> dict[str, str]:
    values = demo_env(tmp_path)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def loaded(env) -> LoadedPolicy:
    return load_policy(POLICY)


def rule(loaded: LoadedPolicy, rule_id: str):
    return next(r for r in loaded.policy.rules if r.id == rule_id)


def test_the_policy_loads_with_the_demo_environment(loaded, env):
    assert loaded.connection("crm") == env["RETENTION_CRM_URL"]
    assert loaded.connection("media") == env["RETENTION_MEDIA_PATH"]
    assert loaded.hash_key == env["RETENTION_HASH_KEY"].encode()


@pytest.mark.parametrize("row", sorted(REGISTER_ROWS))
def test_every_retention_row_of_the_register_has_its_rules(loaded, row):
    ids = {r.id for r in loaded.policy.rules if r.enabled}
    missing = [i for i in REGISTER_ROWS[row] if i not in ids]
    assert not missing, f"{row!r}: no enabled rule {missing}"


def test_no_rule_is_left_unmapped_to_the_register(loaded):
    mapped = {i for ids in REGISTER_ROWS.values() for i in ids}
    assert {r.id for r in loaded.policy.rules} == mapped


def _normalise(text: str) -> str:
    return " ".join(text.replace("\u201c", '"').replace("\u201d", '"').split()).lower()


def test_every_rule_quotes_the_finnish_notice_verbatim(loaded):
    """An auditor can find each rule's basis in the Finnish original."""
    original = _normalise(REGISTER_FI.read_text(encoding="utf-8"))
    for r in loaded.policy.rules:
        quotes = re.findall(r'"([^"]+)"', r.clause)
        assert quotes, f"{r.id}: the clause quotes no Finnish phrase"
        for quote in quotes:
            for piece in (p.strip() for p in quote.split("...")):
                assert not piece or _normalise(piece) in original, f"{r.id}: {piece!r}"
        assert len(r.why.split()) >= 6, f"{r.id}: `why` says too little"


def test_accounting_and_contractor_laws_are_holds_not_rules(loaded):
    holds = {h.id: h for h in loaded.policy.holds}
    vouchers = holds["accounting-vouchers"]
    assert (vouchers.dataset, str(vouchers.period), vouchers.from_year_end) == (
        "crm.invoices",
        "P6Y",
        True,
    )
    assert "1336/1997" in vouchers.law
    reports = holds["contractor-liability-reports"]
    assert (reports.dataset, reports.clock, str(reports.period)) == (
        "crm.contractor_reports",
        "work_ended_at",
        "P2Y",
    )
    assert "1233/2006" in reports.law


def test_a_held_former_contact_is_kept_only_with_the_person_anonymised(loaded):
    contact = rule(loaded, "crm-contact-after-cooperation")
    assert set(contact.holds) == {"accounting-vouchers", "contractor-liability-reports"}
    assert contact.when_held == "anonymise" and contact.held_action is not None
    ds = loaded.policy.dataset("crm.contacts")[3]
    person = (set(ds.identity_fields.values()) | set(ds.personal_fields)) - {ds.primary_key}
    assert person <= set(contact.held_action.fields)


def test_contractual_obligations_use_one_three_year_default(loaded):
    ids = ("crm-contact-after-cooperation", "crm-invoice-billing-person", "crm-contractor-reports")
    assert {str(rule(loaded, i).due.after) for i in ids} == {"P3Y"}
    text = POLICY.read_text(encoding="utf-8")
    # Defined once, reused: changing the default is a one-line edit.
    assert text.count("after: &contractual_obligations P3Y") == 1
    assert text.count("after: *contractual_obligations") == 2


def test_photos_go_after_five_years_and_on_photography_withdrawal(loaded):
    age = rule(loaded, "media-photos-five-years")
    assert (age.due.clock, str(age.due.after), age.action.kind) == ("captured_at", "P5Y", "delete")
    withdrawal = rule(loaded, "media-photos-consent-withdrawn")
    (cond,) = withdrawal.due.where
    source = cond.subjects_from
    assert (cond.column, source.dataset, source.column) == (
        "subjects",
        "crm.consents",
        "contact_id",
    )
    assert {(c.column, c.value) for c in source.where} == {
        ("purpose", "photography"),
        ("status", "withdrawn"),
    }
    assert withdrawal.due.clock is None  # at once, no waiting period


def test_the_opt_out_itself_is_never_erased_by_marketing_rules(loaded):
    """Honouring an opt-out needs the withdrawn consent row."""
    marketing = REGISTER_ROWS["marketing data"]
    assert all(rule(loaded, i).dataset != "crm.consents" for i in marketing)
    prospect = rule(loaded, "crm-prospect-marketing-withdrawn")
    assert prospect.action.kind == "anonymise"
    assert [s.strategy for s in prospect.action.fields["email"]] == ["keyed_hash"]


def test_deletion_follows_every_parent_child_link(loaded):
    def children(qualified: str) -> set[str]:
        return {rel.child for rel in loaded.policy.dataset(qualified)[3].relations}

    assert {"consents", "newsletter_subscriptions", "event_registrations"} <= children(
        "crm.contacts"
    )
    assert "newsletter_reactions" in children("crm.newsletter_subscriptions")
    assert {"login_accounts", "tickets"} <= children("ticketing.users")
    assert "comments" in children("ticketing.tickets")


def test_connections_are_only_named_never_written(loaded):
    for name, system in loaded.policy.systems.items():
        assert system.connection is not None and system.connection.env, name
    assert "sqlite:" not in POLICY.read_text() and "postgresql" not in POLICY.read_text()


# --- broken copies are refused, naming the file and the place --------------------


def _raw() -> dict[str, Any]:
    return yaml.safe_load(POLICY.read_text(encoding="utf-8"))


def _index(raw: dict[str, Any], rule_id: str) -> int:
    return next(i for i, r in enumerate(raw["rules"]) if r["id"] == rule_id)


def _unknown_field(raw):
    i = _index(raw, "crm-web-visits")
    raw["rules"][i]["retention"] = "P1Y"
    return f"rules[{i}].retention", "unknown field"


def _bad_period(raw):
    i = _index(raw, "media-photos-five-years")
    raw["rules"][i]["due"]["after"] = "P5X"
    return f"rules[{i}].due.after", "P5X"


def _undeclared_clock(raw):
    i = _index(raw, "crm-web-visits")
    raw["rules"][i]["due"]["clock"] = "last_seen_at"
    return f"rules[{i}].due.clock", "last_seen_at"


def _undeclared_condition_column(raw):
    i = _index(raw, "crm-contact-after-cooperation")
    raw["rules"][i]["due"]["where"][0]["column"] = "status"
    return f"rules[{i}].due.where[0].column", "'status' is not declared"


def _anonymise_undeclared(raw):
    i = _index(raw, "crm-prospect-marketing-withdrawn")
    raw["rules"][i]["action"]["fields"]["fax"] = {"strategy": "null"}
    return f"rules[{i}].action.fields.fax", "'fax' is not declared"


def _unknown_hold(raw):
    i = _index(raw, "crm-contact-after-cooperation")
    raw["rules"][i]["holds"].append("tax-records")
    return f"rules[{i}].holds[2]", "tax-records"


def _sql_where(raw):
    i = _index(raw, "crm-contact-after-cooperation")
    raw["rules"][i]["due"]["where"] = "relationship_status = 'former' OR 1=1"
    return f"rules[{i}].due.where", "SQL text is not accepted"


BROKEN = [
    _unknown_field,
    _bad_period,
    _undeclared_clock,
    _undeclared_condition_column,
    _anonymise_undeclared,
    _unknown_hold,
    _sql_where,
]


@pytest.mark.parametrize("breakage", BROKEN, ids=lambda f: f.__name__.strip("_"))
def test_a_broken_policy_is_refused_with_file_and_path(env, tmp_path, breakage):
    raw = copy.deepcopy(_raw())
    path_inside, hint = breakage(raw)
    broken = tmp_path / "broken-policy.yaml"
    broken.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(broken)
    message = str(caught.value)
    assert f"{broken}: {path_inside}:" in message, message
    assert hint in message, message


def test_a_missing_environment_variable_is_named(env, monkeypatch):
    monkeypatch.delenv("RETENTION_TICKETING_URL")
    with pytest.raises(PolicyError) as caught:
        load_policy(POLICY)
    message = str(caught.value)
    assert f"{POLICY}: systems.ticketing.connection:" in message
    assert "RETENTION_TICKETING_URL is not set" in message
    assert "RETENTION_CRM_URL" not in message  # only what is really missing


def test_the_unbroken_copy_loads(env, tmp_path):
    """The breakages above fail for their own reason, not for the round trip."""
    copy_path = tmp_path / "copy.yaml"
    copy_path.write_text(yaml.safe_dump(_raw(), allow_unicode=True, sort_keys=False))
    assert {r.id for r in load_policy(copy_path).policy.rules} == {
        i for ids in REGISTER_ROWS.values() for i in ids
    }
