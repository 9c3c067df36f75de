"""The subject index: written with each entry, filled once for a ledger
written before it existed, and what lookup reads (not the entries' text)."""

from __future__ import annotations

import sqlalchemy as sa

from retention.ledger import store
from tests import test_ledger_helpers
from tests.test_ledger_helpers import ANNA_EMAIL, MATTI_EMAIL, open_ledger, seed

ledger_url = test_ledger_helpers.ledger_url


def _index(url: str) -> set[tuple[str, int]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = {(h, s) for h, s in conn.execute(sa.select(store.subjects))}
    engine.dispose()
    return rows


def _expected(url: str) -> set[tuple[str, int]]:
    with open_ledger(url) as ledger:
        return {(h, e.seq) for e in ledger.entries() for h in e.subject_hashes}


def test_every_entry_with_subjects_is_indexed_in_its_own_transaction(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
    index = _index(ledger_url)
    assert index and index == _expected(ledger_url)


def test_lookup_reads_the_index(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seqs = seed(ledger)
        anna = {e.seq for e in ledger.lookup({"email": [ANNA_EMAIL]})}
        assert seqs["contacts"] in anna and seqs["photos"] in anna
        # The entries still name Anna; without index rows lookup finds nothing,
        # so lookup cannot be scanning the entries' text.
        with ledger.engine.begin() as conn:
            conn.execute(sa.delete(store.subjects))
        assert ledger.lookup({"email": [ANNA_EMAIL]}) == []


def test_a_ledger_from_before_the_index_is_filled_once_when_opened(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
        matti = [e.seq for e in ledger.lookup({"email": [MATTI_EMAIL]})]
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:  # as an older version left it: no index, no marker
        conn.execute(sa.delete(store.subjects))
        conn.execute(sa.delete(store.meta))
    engine.dispose()
    assert _index(ledger_url) == set()
    with open_ledger(ledger_url) as ledger:
        assert [e.seq for e in ledger.lookup({"email": [MATTI_EMAIL]})] == matti
    assert _index(ledger_url) == _expected(ledger_url)
    # Filled once: the marker stops a second fill (which would rewrite the table).
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:
        conn.execute(sa.delete(store.subjects).where(store.subjects.c.seq == matti[0]))
    engine.dispose()
    with open_ledger(ledger_url):
        pass
    assert (next(iter(_expected(ledger_url)))[0], matti[0]) not in _index(ledger_url)
