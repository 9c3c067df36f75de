"""An operator asks "did we erase this person, when and where": lookup by
identity or record key, with the key the entries were written under."""

from __future__ import annotations

import pytest

from retention.errors import IdentityError
from retention.ledger import build_report
from tests import test_ledger_helpers
from tests.test_ledger_helpers import (
    ANNA_EMAIL,
    ANNA_NAME,
    K1,
    K2,
    MATTI_EMAIL,
    POLICY_HASH,
    open_ledger,
    seed,
)

ledger_url = test_ledger_helpers.ledger_url


def _kinds_and_rules(entries) -> list[tuple[str, str | None]]:
    return [(e.kind, e.rule_id) for e in entries]


def test_lookup_by_email_finds_that_persons_entries(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
        found = ledger.lookup({"email": [ANNA_EMAIL.upper()]})
    assert _kinds_and_rules(found) == [
        ("intent", "crm-contact-erasure"),
        ("completion", "crm-contact-erasure"),
        ("kept", "crm-contact-erasure"),
        ("intent", "media-five-years"),
        ("completion", "media-five-years"),
    ]
    erased = found[1]
    assert (erased.system, erased.dataset, erased.count, erased.outcome) == (
        "crm", "contacts", 2, "completed",
    )  # fmt: skip
    assert erased.at is not None and erased.approved_by == "dpo-reviewer"
    # the answer for the certificate: what was done, and what was kept until when
    report = build_report(found)
    by_rule = {(r.dataset, r.rule_id): r for r in report.rules}
    assert by_rule[("contacts", "crm-contact-erasure")].deleted == 2
    assert str(by_rule[("invoices", "crm-contact-erasure")].kept[0].until).startswith("2031-12-31")


def test_lookup_by_name_ignores_case_and_spacing(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
        found = ledger.lookup({"name": ["  anna   VIRTANEN "]})
    assert [e.rule_id for e in found] == ["crm-contact-erasure", "crm-contact-erasure"]


def test_lookup_with_a_different_key_finds_nothing(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
    with open_ledger(ledger_url, keys=K2, current="k2") as other:
        assert other.lookup({"email": [ANNA_EMAIL], "name": [ANNA_NAME]}) == []
        assert other.lookup_keys("crm.contacts", [101]) == []
        assert len(other.entries()) == 9  # the entries are there; the key does not fit


def test_lookup_of_someone_never_processed_finds_nothing(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
        assert ledger.lookup({"email": ["nobody@example.fi"]}) == []


@pytest.mark.parametrize("bad", [{"email": ["*"]}, {"email": [""]}, {"email": []}, {"x": ["1"]}])
def test_a_wildcard_or_empty_identity_is_refused(tmp_path, bad) -> None:
    with (
        open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger,
        pytest.raises(IdentityError),
    ):
        ledger.lookup(bad)


def test_lookup_keys_finds_changed_cascaded_and_kept_records(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
        contact = ledger.lookup_keys("crm.contacts", [101])
        ticket = ledger.lookup_keys("tickets", [9001])
        invoice = ledger.lookup_keys("invoices", [5001])
        other_dataset = ledger.lookup_keys("crm.invoices", [101])
    assert [e.kind for e in contact] == ["intent", "completion"]
    assert [(e.kind, e.dataset) for e in ticket] == [("completion", "contacts")]
    assert [(e.kind, e.kept[0].hold_id) for e in invoice] == [("kept", "accounting-act-vouchers")]
    assert other_dataset == []


def test_entries_written_under_k1_are_found_after_rotating_to_k2(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger, run_id="before-rotation")
    with open_ledger(ledger_url, keys={**K1, **K2}, current="k2") as ledger:
        seed(ledger, run_id="after-rotation")
        found = ledger.lookup({"email": [MATTI_EMAIL]})
        assert ledger.verify().ok
    assert [(e.run_id, e.key_id) for e in found] == [
        ("before-rotation", "k1"),
        ("before-rotation", "k1"),
        ("after-rotation", "k2"),
        ("after-rotation", "k2"),
    ]
    # without the old key, what was written under it cannot be found
    with open_ledger(ledger_url, keys=K2, current="k2") as ledger:
        assert {e.run_id for e in ledger.lookup({"email": [MATTI_EMAIL]})} == {"after-rotation"}


def test_completion_uses_its_intents_key_across_a_rotation(ledger_url: str) -> None:
    """An intent written under k1 and completed after the switch to k2 keeps
    comparable hashes, so verify can check the completion's claim."""
    with open_ledger(ledger_url) as ledger:
        ledger.begin_run(
            run_id="r1", policy_hash=POLICY_HASH, policy_name="p", trigger="nightly",
            dry_run=False,
        )  # fmt: skip
        seq = ledger.record_intent(
            run_id="r1", policy_hash=POLICY_HASH, rule_id="r", system="crm",
            dataset="contacts", action="delete", keys=[7, 8], subjects=[ANNA_EMAIL],
        )  # fmt: skip
    with open_ledger(ledger_url, keys={**K1, **K2}, current="k2") as ledger:
        ledger.record_completion(seq, done=[7, 8], cascaded={}, kept=[], failed=[])
        completion = ledger.entries()[-1]
        assert completion.key_id == "k1"
        assert completion.key_hashes == ledger.entries()[1].key_hashes
        assert ledger.verify().ok
        assert len(ledger.lookup_keys("contacts", [8])) == 2
