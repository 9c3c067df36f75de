"""keyed_hash: the stable pseudonym that keeps joins working after anonymisation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from retention.anonymise import AnonymisationError, is_keyed_hash, keyed_hash
from retention.errors import RetentionError

KEY = b"test-key-0123456789"


def test_is_h_colon_and_the_first_16_hex_digits_of_hmac_sha256() -> None:
    expected = hmac.new(KEY, b"matti@example.fi", hashlib.sha256).hexdigest()[:16]
    assert keyed_hash("matti@example.fi", KEY) == "h:" + expected


def test_is_stable_across_calls_so_joins_still_work() -> None:
    assert keyed_hash("matti@example.fi", KEY) == keyed_hash("matti@example.fi", KEY)


def test_another_key_gives_another_pseudonym() -> None:
    assert keyed_hash("matti@example.fi", KEY) != keyed_hash("matti@example.fi", b"other-key")


def test_different_values_give_different_pseudonyms() -> None:
    assert keyed_hash("matti@example.fi", KEY) != keyed_hash("maija@example.fi", KEY)


def test_case_and_surrounding_space_do_not_split_one_person_into_two() -> None:
    assert keyed_hash(" Matti@Example.FI ", KEY) == keyed_hash("matti@example.fi", KEY)


def test_an_int_hashes_like_its_text() -> None:
    assert keyed_hash(4711, KEY) == keyed_hash("4711", KEY)


def test_hashing_a_pseudonym_again_returns_it_unchanged() -> None:
    once = keyed_hash("matti@example.fi", KEY)
    assert keyed_hash(once, KEY) == once
    assert keyed_hash(once, b"other-key") == once


def test_recognises_its_own_output_only() -> None:
    assert is_keyed_hash(keyed_hash("x", KEY))
    assert not is_keyed_hash("h:123")
    assert not is_keyed_hash("H:0123456789ABCDEF")
    assert not is_keyed_hash(None)


@pytest.mark.parametrize("key", [b"", "text-key", None])
def test_refuses_a_missing_or_wrong_type_key(key: object) -> None:
    with pytest.raises(RetentionError, match="hash_key"):
        keyed_hash("matti@example.fi", key)  # type: ignore[arg-type]


def test_refuses_none_instead_of_hashing_the_word_none() -> None:
    with pytest.raises(AnonymisationError):
        keyed_hash(None, KEY)  # type: ignore[arg-type]
