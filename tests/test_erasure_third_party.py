"""Erasure on two third-party-shaped schemas (tests/third_party.py), each on
SQLite, PostgreSQL and MariaDB: a helpdesk without foreign keys and a CRM
with soft deletes and a polymorphic email link table. After one executed
request no text cell of any table holds the person's emails, phone, name
or username (the test's own scan, with a positive control before), a
voucher the law keeps stays with her anonymised, and everyone else's rows
are byte-identical except for redacted mentions in free-text columns."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retention.ledger import Ledger
from retention.pipeline.erase import ErasureRequest
from tasks.erase import run_erase
from tests.oracle import Snapshot, snapshot
from tests.third_party import (
    CRM_POLICY,
    HELPDESK_POLICY,
    SUBJECT,
    SUBJECT_AT,
    SUBJECT_NEEDLES,
    build,
    crm,
    crm_rows,
    helpdesk,
    helpdesk_rows,
    uid,
)

AS_OF = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
HASH_KEY = "third-party-test-key"


def cells_holding(tables: Snapshot, needles: list[str]) -> list[str]:
    """table.column (key) of every text cell holding a needle, in any case;
    a needle of digits is looked for among a cell's digits (any spacing)."""
    found = []
    for table, rows in tables.items():
        for key, row in rows.items():
            for column, value in row.items():
                if not isinstance(value, str):
                    continue
                text, digits = value.casefold(), "".join(c for c in value if c.isdigit())
                for needle in needles:
                    if (needle in digits) if needle.isdigit() else (needle.casefold() in text):
                        found.append(f"{table}.{column} ({key}): {needle}")
    return found


def erase_in(
    url_var: str, url: str, policy: Path, request: ErasureRequest, tmp_path: Path, monkeypatch
) -> Any:
    monkeypatch.setenv(url_var, url)
    monkeypatch.setenv("RETENTION_HASH_KEY", HASH_KEY)
    monkeypatch.setenv("RETENTION_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    return run_erase(str(policy), [request], as_of=AS_OF)


def assert_only_mentions_changed(
    before: Snapshot, after: Snapshot, mine: dict[str, set[Any]], free_text: dict[str, set[str]]
) -> int:
    """Every row not the subject's is there; its changes are redactions in
    free-text columns, the rest of the text kept. Returns how many rows."""
    redacted = 0
    for table, rows in before.items():
        for key, old in rows.items():
            if key in mine.get(table, set()):
                continue
            new = after[table].get(key)
            assert new is not None, f"{table} row {key} of someone else was removed"
            changed = {c for c in old if old[c] != new[c]}
            assert changed <= free_text.get(table, set()), f"{table} {key}: {changed} changed"
            for column in changed:
                assert "[redacted]" in new[column], (table, key, column, new[column])
            redacted += bool(changed)
    return redacted


def assert_certificate(result: Any) -> None:
    [cert] = result.certificates
    assert cert.status == "completed", (cert.status, result.summary and result.summary.reason())


def ledger_at(tmp_path: Path) -> Ledger:
    return Ledger.open(
        f"sqlite:///{tmp_path / 'ledger.db'}", keys={"k1": HASH_KEY.encode()}, current_key_id="k1"
    )


# --- helpdesk -------------------------------------------------------------------


def test_helpdesk_without_foreign_keys_forgets_her_and_keeps_everyone_else(
    db_url, tmp_path, monkeypatch
):
    build(db_url, helpdesk, helpdesk_rows(8))
    before = snapshot(db_url)
    for needle in SUBJECT_NEEDLES:  # positive control: the scan sees each one before
        assert cells_holding(before, [needle]), needle

    # Only one address, in capitals: her other address, her id (also as
    # text in sessions), name, phone and username are found from it.
    result = erase_in(
        "RETENTION_HELPDESK_URL",
        db_url,
        HELPDESK_POLICY,
        ErasureRequest(request_id="HD-1", email=[SUBJECT.emails[0].upper()]),
        tmp_path,
        monkeypatch,
    )

    assert_certificate(result)
    after = snapshot(db_url)
    assert cells_holding(after, SUBJECT_NEEDLES) == []
    mine = _helpdesk_records(before)
    for table in ("hd_users", "hd_user_emails", "hd_user_accounts", "hd_sessions",
                  "hd_tickets", "hd_threads"):  # fmt: skip
        assert not mine[table] & set(after[table]), f"{table}: her rows remain"
    # What she wrote in someone else's thread stays there, without her.
    written = [e for e in before["hd_thread_entries"].values() if e["user_id"] == SUBJECT_AT]
    elsewhere = [e["id"] for e in written if e["id"] in after["hd_thread_entries"]]
    assert elsewhere, "her message in another user's thread is kept"
    for key in elsewhere:
        entry = after["hd_thread_entries"][key]
        assert (entry["user_id"], entry["poster"]) == (0, "Former user")
        assert entry["body"].startswith("Same here.")
    # Threads of the same object_id but another object_type, a visitor's
    # session ('0'), staff and tasks: untouched.
    redacted = assert_only_mentions_changed(
        before, after, mine, {"hd_tickets": {"subject"}, "hd_thread_entries": {"title", "body"}}
    )
    assert redacted == 3, "the staff reply and two other users' messages that name her"
    staff_reply = next(e for e in after["hd_thread_entries"].values()
                       if "got a new printer" in (e["body"] or ""))  # fmt: skip
    assert staff_reply["body"] == "Same as [redacted] reported; [redacted] got a new printer."
    other = next(e for e in after["hd_thread_entries"].values()
                 if (e["title"] or "").startswith("Re:"))  # fmt: skip
    assert other["title"] == "Re: [redacted] tulostin"
    assert other["body"] == "@[redacted] had this too. Sovittu [redacted] kanssa."
    assert "Ring back on [redacted] please." in {
        e["body"] for e in after["hd_thread_entries"].values()
    }
    with ledger_at(tmp_path) as ledger:
        found = ledger.lookup({"email": [SUBJECT.emails[1]]})
        # Her tickets and addresses went with her user row: claimed in its entry.
        assert {e.dataset for e in found} >= {"users", "sessions", "entries"}


def _helpdesk_records(snap: Snapshot) -> dict[str, set[Any]]:
    """Her rows, by the test's own reading of the schema's links."""

    def where(table: str, test: Any) -> set[Any]:
        return {k for k, r in snap[table].items() if test(r)}

    tickets = where("hd_tickets", lambda r: r["user_id"] == SUBJECT_AT)
    threads = where(
        "hd_threads",
        lambda r: (r["object_type"], r["object_id"]) in
        {("T", t) for t in tickets} | {("U", SUBJECT_AT)},
    )  # fmt: skip
    return {
        "hd_users": {SUBJECT_AT},
        "hd_user_emails": where("hd_user_emails", lambda r: r["user_id"] == SUBJECT_AT),
        "hd_user_accounts": where("hd_user_accounts", lambda r: r["user_id"] == SUBJECT_AT),
        "hd_sessions": where("hd_sessions", lambda r: r["user_id"] == str(SUBJECT_AT)),
        "hd_tickets": tickets,
        "hd_threads": threads,
        "hd_thread_entries": where(
            "hd_thread_entries",
            lambda r: r["thread_id"] in threads or r["user_id"] == SUBJECT_AT,
        ),
    }


# --- crm ------------------------------------------------------------------------


def test_crm_with_soft_deletes_and_a_shared_email_link_table_forgets_her(
    db_url, tmp_path, monkeypatch
):
    build(db_url, crm, crm_rows(9))
    before = snapshot(db_url)
    needles = [n for n in SUBJECT_NEEDLES if n != SUBJECT.username]  # no usernames here
    for needle in needles:
        assert cells_holding(before, [needle]), needle

    result = erase_in(
        "RETENTION_CRM_URL",
        db_url,
        CRM_POLICY,
        ErasureRequest(request_id="CRM-1", email=[SUBJECT.emails[0]], name=[SUBJECT.name]),
        tmp_path,
        monkeypatch,
    )

    assert_certificate(result)
    after = snapshot(db_url)
    assert cells_holding(after, needles) == []
    mine = _crm_records(before)
    for table in ("contacts", "leads", "email_addresses", "email_addr_bean_rel", "notes"):
        assert not mine[table] & set(after[table]), f"{table}: her rows remain"
    # The voucher the Accounting Act keeps stays, without her; the old one goes.
    held = [k for k in mine["invoices"] if before["invoices"][k]["invoice_date"].year == 2024]
    assert held and set(held) == mine["invoices"] & set(after["invoices"])
    for key in held:
        old, new = before["invoices"][key], after["invoices"][key]
        assert new["billing_contact_name"] == "[erased]" and new["billing_contact_id"] is None
        assert new["number"] == old["number"]
        assert new["billing_account_id"] == old["billing_account_id"]
    # Her company and every other company stay as they were.
    assert after["accounts"] == before["accounts"]
    company_note = after["notes"][uid("note", "company")]
    assert company_note["name"] == "Meeting with [redacted]"
    assert company_note["description"] == (
        "[redacted] ([redacted], [redacted]) leads the Kivi renewal; budget approved."
    )
    redacted = assert_only_mentions_changed(
        before, after, mine, {"notes": {"name", "description"}, "contacts": {"description"}}
    )
    assert redacted == 2, "the note on her company and the colleague's handover note"


def _crm_records(snap: Snapshot) -> dict[str, set[Any]]:
    """Her rows, by the test's own reading: her contact and its soft-deleted
    duplicate, the lead converted into her, what hangs on them, her
    addresses and their links."""
    contacts = {uid("contact", SUBJECT_AT), uid("contact", "dup")}
    leads = {k for k, r in snap["leads"].items() if r["contact_id"] in contacts}
    beans = contacts | leads
    links = {k for k, r in snap["email_addr_bean_rel"].items() if r["bean_id"] in beans}
    addresses = {snap["email_addr_bean_rel"][k]["email_address_id"] for k in links}
    return {
        "contacts": contacts,
        "leads": leads,
        "email_addresses": addresses,
        "email_addr_bean_rel": links,
        "notes": {k for k, r in snap["notes"].items() if r["parent_id"] in beans},
        "invoices": {k for k, r in snap["invoices"].items() if r["billing_contact_id"] in contacts},
    }
