"""The folder media connector: media files under a root folder, their facts
in a `<file>.json` sidecar beside each (or in an index table).

Keys are paths relative to the root, with `/`. The due decision is
media_facts', shared with the S3 connector. A file is deleted before its
sidecar, so an interrupted run never leaves a file without its facts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from connectors.base import ApplyResult, Key, Prepared, RecordIntent, ScanBatch
from connectors.media.facts import (
    FactValue,
    ItemFacts,
    MediaInputError,
    dataset_of_rule,
    decode_facts,
    find_subject_in,
    identity_values,
    media_dataset,
    prepare_rule,
    recheck,
    scan_batches,
    subject_values_of,
)
from connectors.media.index import FactIndex, open_fact_indexes
from connectors.media.keys import SIDECAR_SUFFIX, is_sidecar, keys_to_apply, sidecar_of
from retention.errors import ConnectionFailed
from retention.logs import get_logger
from retention.policy import Action, Condition, Dataset, Facts, Policy, Rule, Scalar, System

log = get_logger("connectors.media.folder")

SIDECAR_FACTS = Facts(source="sidecar")


@dataclass
class FolderConnector:
    name: str
    system: System
    root: Path
    batch_size: int
    policy: Policy | None
    indexes: dict[str, FactIndex]

    # --- protocol ------------------------------------------------------------

    def check(self) -> None:
        if not self.root.is_dir():
            raise ConnectionFailed(
                f"system {self.name!r}: media folder does not exist or is no folder"
            )

    def count(self, dataset: str) -> int:
        ds, facts = self._dataset(dataset)
        return len(self._keys(ds, facts))

    def identities(self, dataset: str, keys: Sequence[Key]) -> list[str]:
        ds, facts = self._dataset(dataset)
        wanted = set(ds.identity_fields.values())
        if not wanted or not keys:
            return []
        return identity_values(ds, self._facts_for(dataset, facts, [str(k) for k in keys], wanted))

    def images(self, dataset: str, columns: Sequence[str]) -> Iterator[list[tuple[Key, str]]]:
        # Media items are only ever deleted: presence is their whole image.
        for page in self.keys(dataset):
            yield [(key, "") for key in page]

    def keys(self, dataset: str) -> Iterator[list[Key]]:
        ds, facts = self._dataset(dataset)
        found: list[Key] = list(self._keys(ds, facts))
        for start in range(0, len(found), self.batch_size):
            yield found[start : start + self.batch_size]

    def scan(self, rule: Rule, *, now: datetime) -> Iterator[ScanBatch]:
        dataset = dataset_of_rule(self.name, self.system, rule)
        prepared = prepare_rule(rule, qualified=rule.dataset, policy=self.policy, now=now)
        items = self._items(dataset, prepared.facts_needed())
        yield from scan_batches(
            items, prepared, qualified=rule.dataset, batch_size=self.batch_size, log=log
        )

    def subject_values(self, dataset: str, column: str, where: Sequence[Condition]) -> set[Scalar]:
        return subject_values_of(self._items, dataset, column, where)

    def find_subject(self, identities: Mapping[str, Sequence[str]]) -> dict[str, list[Key]]:
        return find_subject_in(self._items, self.system.datasets, identities)

    def apply(
        self,
        dataset: str,
        action: Action,
        keys: Sequence[Key],
        *,
        now: datetime,
        rule: Rule | None = None,
        record: RecordIntent | None = None,
    ) -> ApplyResult:
        ds, facts = self._dataset(dataset)
        wanted = keys_to_apply(ds, facts, action, keys, now)
        paths = {str(key): self._path(str(key), i) for i, key in enumerate(keys)}
        result = ApplyResult()
        if rule is not None:
            qualified = f"{self.name}.{dataset}"
            prepared = prepare_rule(rule, qualified=qualified, policy=self.policy, now=now)
            known = self._facts_for(dataset, facts, wanted, prepared.facts_needed())
            verdict = recheck(wanted, known, prepared)
            result.kept += verdict.kept
            result.skipped += verdict.skipped
            wanted = verdict.still_due
        # The intent names only what is there to delete: recovery would claim
        # a key named but already gone as erased by this batch.
        uses_sidecars = facts.source == "sidecar"
        present = [k for k in wanted if _held_on_disk(paths[k], uses_sidecars)]
        result.skipped += [k for k in wanted if k not in set(present)]
        if present and record is not None:
            record(Prepared(changes=list(present)))
        for key in present:
            self._erase(key, paths[key], uses_sidecars, result)
        log.debug(
            "folder.apply.batch",
            system=self.name,
            dataset=dataset,
            asked=len(keys),
            done=len(result.done),
            kept=len(result.kept),
            failed=len(result.failed),
            skipped=len(result.skipped),
        )
        return result

    def close(self) -> None:
        for index in self.indexes.values():
            index.close()

    # --- files ---------------------------------------------------------------

    def _erase(self, key: str, path: Path, uses_sidecars: bool, result: ApplyResult) -> None:
        sidecar = Path(sidecar_of(str(path)))
        has_file = path.is_file()
        has_sidecar = uses_sidecars and sidecar.is_file()
        if not has_file and not has_sidecar:
            result.skipped.append(key)
            return
        try:
            if has_file:
                path.unlink()
        except OSError as exc:
            result.failed.append((key, f"file not deleted: {type(exc).__name__}"))
            return
        try:
            if has_sidecar:
                sidecar.unlink()
        except OSError as exc:
            result.failed.append((key, f"file deleted, sidecar not: {type(exc).__name__}"))
            return
        result.done.append(key)

    def _path(self, key: str, position: int) -> Path:
        """The file for a key, refused if it would lie outside the root."""
        parts = key.split("/")
        if key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
            raise MediaInputError(f"keys[{position}]: not a plain relative path under the root")
        path = self.root.joinpath(*parts)
        if not str(path.resolve()).startswith(str(self.root.resolve()) + os.sep):
            raise MediaInputError(f"keys[{position}]: resolves outside the media folder; refused")
        return path

    def _keys(self, ds: Dataset, facts: Facts) -> list[str]:
        """Media keys under the dataset's prefix, sorted (sidecars excluded)."""
        assert ds.prefix is not None
        base = self.root.joinpath(*[p for p in ds.prefix.split("/")[:-1] if p])
        uses_sidecars = facts.source == "sidecar"
        keys: set[str] = set()
        pending = [base] if base.is_dir() else []
        while pending:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        key = Path(entry.path).relative_to(self.root).as_posix()
                        if is_sidecar(key, uses_sidecars):
                            # A sidecar whose file is gone (a run killed in
                            # between) still names people: it stays an item.
                            key = key.removesuffix(SIDECAR_SUFFIX)
                        if key.startswith(ds.prefix):
                            keys.add(key)
        return sorted(keys)

    # --- facts ---------------------------------------------------------------

    def _items(self, dataset: str, wanted: set[str]) -> Iterator[tuple[str, ItemFacts]]:
        ds, facts = self._dataset(dataset)
        if facts.source == "index":
            assert ds.prefix is not None
            yield from self.indexes[dataset].items_under(ds.prefix, wanted)
            return
        for key in self._keys(ds, facts):
            yield key, self._sidecar_facts(key, facts, wanted)

    def _facts_for(
        self, dataset: str, facts: Facts, keys: list[str], wanted: set[str]
    ) -> dict[str, dict[str, FactValue]]:
        if facts.source == "index":
            return self.indexes[dataset].facts_for(keys, wanted)
        return {key: self._sidecar_facts(key, facts, wanted) for key in keys}

    def _sidecar_facts(self, key: str, facts: Facts, wanted: set[str]) -> dict[str, FactValue]:
        try:
            parsed = json.loads(self.root.joinpath(sidecar_of(key)).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            parsed = {}  # no readable sidecar: no facts, so never due by them
        return decode_facts(parsed if isinstance(parsed, dict) else {}, facts, wanted)

    def _dataset(self, dataset: str) -> tuple[Dataset, Facts]:
        ds, facts = media_dataset(self.name, self.system, dataset, default_facts=SIDECAR_FACTS)
        if facts.source not in ("sidecar", "index"):
            raise MediaInputError(
                f"systems.{self.name}.datasets.{dataset}.facts.source: a folder has no "
                f"{facts.source}; use sidecar or index"
            )
        return ds, facts


def _held_on_disk(path: Path, uses_sidecars: bool) -> bool:
    return path.is_file() or (uses_sidecars and Path(sidecar_of(str(path))).is_file())


def open_folder_connector(
    name: str,
    system: System,
    root: str,
    *,
    hash_key: bytes,
    batch_size: int = 500,
    policy: Policy | None = None,
    index_url: str | None = None,
) -> FolderConnector:
    """hash_key is accepted for the common connector signature; nothing here
    stores identities."""
    if system.kind != "folder":
        raise MediaInputError(f"systems.{name}.kind: a folder connector needs kind 'folder'")
    if not root:
        raise MediaInputError(f"systems.{name}.connection: the media folder path is empty")
    if batch_size < 1:
        raise MediaInputError(f"batch_size: {batch_size} must be at least 1")
    for dataset in system.datasets:
        FolderConnector(name, system, Path(root), batch_size, policy, {})._dataset(dataset)
    indexes = open_fact_indexes(system, index_url, policy)
    return FolderConnector(name, system, Path(root), batch_size, policy, indexes)
