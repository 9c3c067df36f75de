"""One person, one identity: however an email or a phone number is written,
it matches the same rows on every dialect, hashes to the same ledger entry,
and is found by `retention lookup`."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.sql.connector import open_sql_connector
from flows.cli import main
from retention import identity
from retention.demo import demo_env
from retention.errors import IdentityError
from retention.identity import validate
from retention.ledger import Ledger
from retention.ledger.keys import canonical_text
from retention.policy import Policy
from retention.policy_loader import load_policy
from retention.runtime import ledger_keys

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "deployments" / "id-north" / "policy.yaml"
MATTI = "+358 40 123 4567"
MATTI_SPELLINGS = [
    "+358 40 123 4567",
    "+358401234567",
    "0401234567",
    "040-123 4567",
    "(040) 123 45 67",
    "00358 40 1234567",
    "+358 (0)40 123 4567",
]


@pytest.mark.parametrize("spelling", MATTI_SPELLINGS)
def test_every_spelling_of_a_finnish_number_is_one_e164_number(spelling: str) -> None:
    assert identity.normalise("phone", spelling) == "+358401234567"
    assert canonical_text(spelling) == "+358401234567"


def test_a_number_without_country_code_is_read_in_the_default_region() -> None:
    assert identity.phone("070-123 45 67", region="SE") == "+46701234567"
    assert identity.phone("070-123 45 67") == "+358701234567"  # FI, the default
    assert identity.phone("+46 70 123 45 67") == "+46701234567"  # a written code wins


@pytest.mark.parametrize(
    "bad", ["12345", "040 123 4567 ext", "+358 40 123 4567 or 050", "4*", "%", "+999 0"]
)
def test_what_is_not_one_number_is_refused(bad: str) -> None:
    with pytest.raises(IdentityError):
        identity.normalise("phone", bad)


@pytest.mark.parametrize(
    "spelling",
    ["Matti.Virtanen@Example.fi", " MATTI.VIRTANEN@EXAMPLE.FI ", "matti.virtanen@example.fi"],
)
def test_an_email_is_trimmed_and_case_folded(spelling: str) -> None:
    assert identity.normalise("email", spelling) == "matti.virtanen@example.fi"
    assert canonical_text(spelling) == "matti.virtanen@example.fi"


def test_a_bare_run_of_digits_is_an_id_not_a_phone_number() -> None:
    """Record keys are hashed with the same function: an id must stay an id."""
    assert canonical_text("12345678") == "12345678"
    assert canonical_text(12345678) == "12345678"


def test_the_policy_sets_the_region_of_numbers_without_a_country_code(
    tmp_path, monkeypatch
) -> None:
    for name, value in demo_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    swedish = tmp_path / "policy.yaml"
    text = POLICY.read_text(encoding="utf-8")
    swedish.write_text(text.replace("settings:\n", "settings:\n  phone_region: SE\n", 1))
    try:
        load_policy(swedish)
        assert identity.phone("070-123 45 67") == "+46701234567"
    finally:
        load_policy(POLICY)
    assert identity.phone("070-123 45 67") == "+358701234567"


# --- matching in the databases ----------------------------------------------

PEOPLE = [
    (1, "Matti.Virtanen@Example.fi", "+358 40 123 4567"),
    (2, " matti.virtanen@example.fi", "040-123 4567"),
    (3, "MATTI.VIRTANEN@EXAMPLE.FI", "00358401234567"),
    (4, "matti.virtanen@example.com", "+358 40 123 4568"),
    (5, "anna@example.fi", "+46 40 123 4567"),  # the same digits in another country
]


def people_policy() -> Policy:
    return Policy.model_validate(
        {
            "version": 1,
            "name": "identity-test",
            "controller": "Test Oy",
            "systems": {
                "crm": {
                    "kind": "sql",
                    "connection": {"env": "UNUSED"},
                    "datasets": {
                        "people": {
                            "table": "people",
                            "identity_fields": {"email": "email", "phone": "phone"},
                        }
                    },
                }
            },
            "rules": [
                {
                    "id": "r",
                    "clause": "test",
                    "why": "test",
                    "dataset": "crm.people",
                    "due": {"where": [{"column": "id", "op": "gt", "value": 100}]},
                    "action": {"kind": "delete"},
                }
            ],
        }
    )


@pytest.fixture
def people(db_url: str):
    engine = sa.create_engine(db_url)
    table = sa.Table(
        "people",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(120)),
        sa.Column("phone", sa.String(40)),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "email": e, "phone": p} for i, e, p in PEOPLE])
    engine.dispose()
    policy = people_policy()
    connector = open_sql_connector(
        "crm", policy.systems["crm"], db_url, hash_key=b"k" * 32, policy=policy
    )
    yield connector
    connector.close()


@pytest.mark.parametrize(
    "email",
    ["MATTI.VIRTANEN@EXAMPLE.FI", "matti.virtanen@example.fi", " Matti.Virtanen@example.FI"],
)
def test_an_email_in_any_case_finds_the_same_rows_on_every_dialect(people, email: str) -> None:
    assert people.find_subject({"email": [email]}) == {"people": [1, 2, 3]}


@pytest.mark.parametrize("spelling", ["0401234567", "+358 40 123 4567", "00358-40-123-4567"])
def test_a_phone_number_in_any_spelling_finds_every_stored_spelling(people, spelling) -> None:
    assert people.find_subject({"phone": [spelling]}) == {"people": [1, 2, 3]}


# --- the ledger and `retention lookup` -----------------------------------------


@pytest.fixture
def lookup_env(tmp_path, monkeypatch) -> str:
    for name, value in demo_env(tmp_path / "demo").items():
        monkeypatch.setenv(name, value)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("RETENTION_LEDGER_URL", url)
    return url


def erase_people(connector, ledger: Ledger, run_id: str, subject: dict[str, list[str]]) -> None:
    """Erasure as the pipeline records it: the rows' own identities (as stored)
    in the intent, then the change, then the completion."""
    ledger.begin_run(
        run_id=run_id, policy_hash="0" * 64, policy_name="t", trigger="erasure", dry_run=False
    )
    keys = connector.find_subject(validate(subject))["people"]
    seq = ledger.record_intent(
        run_id=run_id,
        policy_hash="0" * 64,
        rule_id="erasure",
        system="crm",
        dataset="people",
        action="delete",
        keys=keys,
        subjects=connector.identities("people", keys),
    )
    with connector.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM people WHERE id IN (1, 2, 3)"))
    ledger.record_completion(seq, done=keys, cascaded={}, kept=[], failed=[])


def test_lookup_by_a_national_number_finds_an_erasure_under_the_international_one(
    sqlite_url, lookup_env, capsys
) -> None:
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, phone TEXT)")
        )
        conn.execute(
            sa.text("INSERT INTO people VALUES (1, 'Matti.Virtanen@Example.fi', :p)"), {"p": MATTI}
        )
    engine.dispose()
    loaded = load_policy(POLICY)
    keys, current = ledger_keys(loaded)
    policy = people_policy()
    connector = open_sql_connector(
        "crm", policy.systems["crm"], sqlite_url, hash_key=b"k" * 32, policy=policy
    )
    run_id = f"erasure-{uuid.uuid4().hex[:12]}"
    with Ledger.open(lookup_env, keys=keys, current_key_id=current) as ledger:
        erase_people(connector, ledger, run_id, {"email": ["matti.virtanen@example.fi"]})
    connector.close()

    for argv in (
        ["--phone", "0401234567"],
        ["--phone", "+358401234567"],
        ["--email", "MATTI.VIRTANEN@EXAMPLE.FI"],
    ):
        assert main(["lookup", "--policy", str(POLICY), *argv]) == 0
        out = capsys.readouterr().out
        lines = [line for line in out.splitlines() if run_id in line]
        assert len(lines) == 2, (argv, out)  # the intent and its completion
        assert {k for line in lines for k in ("intent", "completion") if f" {k} " in line} == {
            "intent",
            "completion",
        }

    assert main(["lookup", "--policy", str(POLICY), "--phone", "0401234568"]) == 0
    assert "no ledger entry names this person" in capsys.readouterr().out


def test_an_unreachable_ledger_is_an_error_line_not_a_traceback(
    lookup_env, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(
        "RETENTION_LEDGER_URL", "postgresql+psycopg://someone:s3cret-pw@127.0.0.1:1/ledger"
    )
    assert main(["lookup", "--policy", str(POLICY), "--phone", "0401234567"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "RETENTION_LEDGER_URL" in err
    assert "127.0.0.1:1/ledger" in err and "s3cret-pw" not in err


# --- every spelling, drawn ----------------------------------------------------

SEPARATORS = ["", " ", "-", " - ", "."]


@st.composite
def finnish_mobile_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """(E.164, one way a person might write it)."""
    operator = draw(st.sampled_from(["40", "41", "44", "45", "50"]))
    rest = draw(st.text(alphabet="0123456789", min_size=7, max_size=7))
    prefix = draw(st.sampled_from(["+358 ", "+358", "00358 ", "0", "(0)", "+358 (0)"]))
    sep = draw(st.sampled_from(SEPARATORS))
    cut = draw(st.integers(1, 6))
    written = f"{prefix}{operator}{sep}{rest[:cut]}{sep}{rest[cut:]}"
    return f"+358{operator}{rest}", written


@settings(max_examples=200, deadline=None)
@given(finnish_mobile_spellings())
def test_any_spelling_of_a_mobile_number_normalises_and_hashes_as_one(drawn) -> None:
    e164, written = drawn
    assert identity.normalise("phone", written) == e164
    assert canonical_text(written) == e164


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["matti.virtanen@example.fi", "anna-liisa.maki@idnorth.fi", "a.b@x.se"]),
    st.lists(st.booleans(), min_size=40, max_size=40),
    st.sampled_from(["", " ", "\t", "  "]),
)
def test_any_case_and_padding_of_an_email_is_one_identity(address, upper, pad) -> None:
    cased = "".join(c.upper() if u else c for c, u in zip(address, upper, strict=False))
    written = pad + cased + pad
    assert identity.normalise("email", written) == address == canonical_text(written)
