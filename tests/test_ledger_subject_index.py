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
        # so lookup cannot be scanning the entries' text. (Index rows can go
        # only once the index is marked incomplete: the append-only triggers.)
        with ledger.engine.begin() as conn:
            conn.execute(sa.delete(store.meta))
            conn.execute(sa.delete(store.subjects))
        assert ledger.lookup({"email": [ANNA_EMAIL]}) == []


def test_a_ledger_from_before_the_index_is_filled_once_when_opened(ledger_url: str) -> None:
    with open_ledger(ledger_url) as ledger:
        seed(ledger)
        matti = [e.seq for e in ledger.lookup({"email": [MATTI_EMAIL]})]
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:  # as an older version left it: no index, no marker
        conn.execute(sa.delete(store.meta))
        conn.execute(sa.delete(store.subjects))
    engine.dispose()
    assert _index(ledger_url) == set()
    with open_ledger(ledger_url) as ledger:
        assert [e.seq for e in ledger.lookup({"email": [MATTI_EMAIL]})] == matti
    assert _index(ledger_url) == _expected(ledger_url)
    # Filled once: the marker stops a second fill (which would rewrite the
    # table and so drop a row no entry names).
    stray = ("f" * 64, matti[0])
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(store.subjects).values(subject_hash=stray[0], seq=stray[1]))
    engine.dispose()
    with open_ledger(ledger_url):
        pass
    assert stray in _index(ledger_url)
