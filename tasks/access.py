"""An access request from a policy file: validate the identities (refused
before any connection), open every system, resolve the person exactly as
an erasure does (retention.pipeline.subject), read their records whole,
build the bundle, and record the access in the ledger. The CLI calls it
directly; the access-request flow calls it too."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import Key
from connectors.record_read import read_records
from retention import identity
from retention.access.bundle import AccessBundle, build_bundle, only_own
from retention.access.render import to_html, to_markdown
from retention.access.request import AccessRequest
from retention.logs import get_logger
from retention.pipeline.subject import resolve, subject_of
from retention.policy import split_name
from tasks.setup import close_systems, load_checked_policy, open_ledger, open_systems

log = get_logger("retention.access")


def run_access(policy: str, request: AccessRequest, *, now: datetime | None = None) -> AccessBundle:
    loaded = load_checked_policy(policy)
    subject = subject_of(request.request_id, request.identities())
    names = sorted(loaded.policy.systems)
    connectors = open_systems(loaded, names)
    try:
        resolve([subject], connectors)
        records: dict[str, Mapping[Key, Mapping[str, Any]]] = {}
        for qualified in sorted(set(subject.direct) | set(subject.related)):
            system, dataset = split_name(qualified)
            keys = sorted(subject.records(qualified), key=str)
            rows = read_records(connectors[system], dataset, keys)
            ds = loaded.policy.systems[system].datasets[dataset]
            own = {identity.canonical(v) for v in subject.all_values()}
            columns = set(ds.identity_fields.values())
            records[qualified] = {k: only_own(row, columns, own) for k, row in rows.items()}
    finally:
        close_systems(connectors)
    bundle = build_bundle(
        loaded.policy, loaded.sha256, request.request_id, records, names, now or datetime.now(UTC)
    )
    ledger = open_ledger(loaded)
    try:
        ledger.record_access(
            request_id=request.request_id,
            policy_hash=loaded.sha256,
            requested_by=request.requested_by,
            systems=names,
            subjects=sorted(subject.all_values()),
            counts=bundle.counts(),
        )
    finally:
        ledger.close()
    log.info("access answered", request_id=request.request_id, records=bundle.record_count)
    return bundle


def write_bundle(bundle: AccessBundle, folder: Path) -> dict[str, Path]:
    """The JSON bundle, the Markdown and the HTML report, readable by their
    owner only: they hold the person's data."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = folder / bundle.request_id
    paths = {
        "json": stem.with_suffix(".json"),
        "markdown": stem.with_suffix(".md"),
        "html": stem.with_suffix(".html"),
    }
    texts = {"json": bundle.to_json(), "markdown": to_markdown(bundle), "html": to_html(bundle)}
    for kind, path in paths.items():
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(texts[kind])
    return paths
