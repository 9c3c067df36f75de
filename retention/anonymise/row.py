"""Anonymising one row: the new values of only the columns that change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from retention.anonymise.errors import AnonymisationError
from retention.anonymise.keyed_hash import check_key, hmac_digest
from retention.anonymise.strategies import Cell, Step, compile_chain
from retention.policy import Strategy

# Separates the fake seed's domain from keyed_hash's, so a fake never leaks a pseudonym.
_FAKE_SEED_DOMAIN = "fake-seed\x1f"


def _unchanged(old: Any, new: Any) -> bool:
    # 1 == True and 1 == 1.0 in Python, but the database would store something else.
    return old is new or (type(old) is type(new) and old == new)


@dataclass(frozen=True, eq=False)
class RowAnonymiser:
    """Call it with a row (a mapping holding at least `columns`, and each
    parent identifier under "dataset.column"); it returns the changes."""

    columns: frozenset[str]
    parent_columns: dict[str, frozenset[str]]
    primary_key: str
    steps: Mapping[str, Step] = field(repr=False)
    hash_key: bytes = field(repr=False)
    # Only fake values read the seed: an HMAC per row is not paid without them.
    needs_seed: bool = True
    # Every field's new value when none depends on the row (null and constant
    # strategies only): the store can then set them in one statement.
    constants: Mapping[str, Any] | None = None

    def _check(self, row: Mapping[str, Any]) -> None:
        needed = set(self.columns) | {
            f"{dataset}.{column}"
            for dataset, columns in self.parent_columns.items()
            for column in columns
        }
        missing = sorted(needed - set(row))
        if missing:
            raise AnonymisationError(f"row lacks the columns {', '.join(missing)}")
        if row[self.primary_key] is None:
            raise AnonymisationError(f"row's primary key {self.primary_key!r} is None")

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        self._check(row)
        seed = (
            hmac_digest(self.hash_key, _FAKE_SEED_DOMAIN + str(row[self.primary_key]))
            if self.needs_seed
            else b""
        )
        changes: dict[str, Any] = {}
        for column, step in self.steps.items():
            old = row[column]
            new = step(old, Cell(column=column, original=row, seed=seed))
            if not _unchanged(old, new):
                changes[column] = new
        return changes


def _identifier_columns(fields: Mapping[str, Sequence[Strategy]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for column, chain in fields.items():
        strategies = [chain] if isinstance(chain, Strategy) else chain
        for strategy in strategies:
            if isinstance(strategy, Strategy) and strategy.strategy == "redact":
                found.extend((column, identifier) for identifier in strategy.identifiers)
    return found


def _strategies(chain: Sequence[Strategy] | Strategy) -> list[Strategy]:
    return [chain] if isinstance(chain, Strategy) else list(chain)


def _constants(fields: Mapping[str, Sequence[Strategy] | Strategy]) -> dict[str, Any] | None:
    """Each field's value if every chain ends in a value that ignores the row."""
    values: dict[str, Any] = {}
    for column, chain in fields.items():
        strategies = _strategies(chain)
        if any(s.strategy not in ("null", "constant") for s in strategies):
            return None
        last = strategies[-1]  # each ignores what came before it
        values[column] = None if last.strategy == "null" else last.value
    return values


def build_anonymiser(
    fields: Mapping[str, Sequence[Strategy]], *, hash_key: bytes, primary_key: str
) -> RowAnonymiser:
    """A RowAnonymiser applying each field's strategy chain."""
    key = check_key(hash_key)
    if not primary_key or not isinstance(primary_key, str):
        raise AnonymisationError("primary_key must name the row's key column")
    if not fields:
        raise AnonymisationError("no fields to anonymise: give a strategy chain per field")
    if primary_key in fields:
        raise AnonymisationError(
            f"field {primary_key!r} is the primary key: the row is found by it, "
            "so it cannot be anonymised in place"
        )
    steps = {column: compile_chain(column, chain, key) for column, chain in fields.items()}
    own: set[str] = set(fields) | {primary_key}
    parents: dict[str, set[str]] = {}
    for column, identifier in _identifier_columns(fields):
        dataset, dot, parent_column = identifier.partition(".")
        if not dot:
            own.add(identifier)
        elif dataset and parent_column and "." not in parent_column:
            parents.setdefault(dataset, set()).add(parent_column)
        else:
            raise AnonymisationError(
                f"field {column!r}: redact identifier {identifier!r} must be a column "
                "or dataset.column"
            )
    return RowAnonymiser(
        columns=frozenset(own),
        parent_columns={dataset: frozenset(cols) for dataset, cols in parents.items()},
        primary_key=primary_key,
        steps=steps,
        hash_key=key,
        needs_seed=any(
            s.strategy == "fake" for chain in fields.values() for s in _strategies(chain)
        ),
        constants=_constants(fields),
    )
