"""Each policy Strategy becomes a small function of (value, cell); a field's
chain of strategies becomes these functions applied left to right."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from retention.anonymise.dates import generalise_date
from retention.anonymise.errors import AnonymisationError
from retention.anonymise.fake_values import fake_value
from retention.anonymise.keyed_hash import keyed_hash
from retention.anonymise.redact import redact_text
from retention.anonymise.redact_index import mention_index
from retention.policy import Strategy


@dataclass(frozen=True)
class Cell:
    """Where a step works: the column, the row as it was given, the row's fake seed."""

    column: str
    original: Mapping[str, Any]
    seed: bytes


Step = Callable[[Any, Cell], Any]


def _null(strategy: Strategy, hash_key: bytes) -> Step:
    return lambda value, cell: None


def _constant(strategy: Strategy, hash_key: bytes) -> Step:
    return lambda value, cell: strategy.value


def _keyed_hash(strategy: Strategy, hash_key: bytes) -> Step:
    def step(value: Any, cell: Cell) -> Any:
        return None if value is None else keyed_hash(value, hash_key)

    return step


def _generalise_date(strategy: Strategy, hash_key: bytes) -> Step:
    to = strategy.to
    if to is None:
        raise AnonymisationError("generalise_date needs `to: month` or `to: year`")
    return lambda value, cell: generalise_date(value, to, column=cell.column)


def _fake(strategy: Strategy, hash_key: bytes) -> Step:
    kind = strategy.fake
    if kind is None:
        raise AnonymisationError("fake needs `fake:` (name, email, phone, ...)")

    def step(value: Any, cell: Cell) -> Any:
        # An empty field stays empty: anonymising must not invent data.
        return None if value is None else fake_value(kind, cell.seed)

    return step


def _redact(strategy: Strategy, hash_key: bytes) -> Step:
    identifiers = tuple(strategy.identifiers)
    # An erasure request's own identifiers: a batch's may be thousands, so
    # each text is redacted with only those whose key it holds.
    values = mention_index(tuple(strategy.values))
    replacement = strategy.replacement

    def step(value: Any, cell: Cell) -> Any:
        if value is not None and not isinstance(value, str):
            raise AnonymisationError(
                f"field {cell.column!r}: redact works on text, not {type(value).__name__}"
            )
        # Read from the row as given: another field's step may already have nulled a name.
        found = [cell.original.get(name) for name in identifiers]
        found += values.relevant(value) if value else []
        return redact_text(value, found, replacement)

    return step


_BUILDERS: dict[str, Callable[[Strategy, bytes], Step]] = {
    "null": _null,
    "constant": _constant,
    "keyed_hash": _keyed_hash,
    "generalise_date": _generalise_date,
    "fake": _fake,
    "redact": _redact,
}


def compile_step(column: str, strategy: Strategy, hash_key: bytes) -> Step:
    if not isinstance(strategy, Strategy):
        raise AnonymisationError(
            f"field {column!r}: a strategy must be a policy Strategy, not {type(strategy).__name__}"
        )
    builder = _BUILDERS.get(strategy.strategy)
    if builder is None:
        raise AnonymisationError(f"field {column!r}: unknown strategy {strategy.strategy!r}")
    try:
        return builder(strategy, hash_key)
    except AnonymisationError as exc:
        raise AnonymisationError(f"field {column!r}: {exc}") from None


def compile_chain(column: str, chain: Sequence[Strategy] | Strategy, hash_key: bytes) -> Step:
    strategies = [chain] if isinstance(chain, Strategy) else list(chain)
    if not strategies:
        raise AnonymisationError(f"field {column!r}: the strategy chain is empty")
    steps = [compile_step(column, s, hash_key) for s in strategies]

    def chained(value: Any, cell: Cell) -> Any:
        return reduce(lambda current, step: step(current, cell), steps, value)

    return chained
