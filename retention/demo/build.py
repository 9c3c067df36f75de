"""Build the demo systems under one folder and say what was made."""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from retention.demo import schema
from retention.demo.crm_data import generate_crm
from retention.demo.media_data import plan_photos, write_photos
from retention.demo.people import PeopleFactory
from retention.demo.rows import Rows
from retention.demo.ticketing_data import generate_ticketing
from retention.demo.timeline import Timeline, naive_local
from retention.periods import Period

CRM_FILE = "crm.db"
TICKETING_FILE = "ticketing.db"
MEDIA_DIR = "media"
# Marked as such on purpose: anyone who finds it in a real deployment should stop.
DEMO_HASH_KEY = "DEMO-ONLY-hash-key-not-secret-never-use-in-production"


@dataclass(frozen=True)
class DemoSummary:
    """What build_demo made: rows per table, photos, and the planned cases
    (cohort name -> count), e.g. 'contacts.former_held_invoice'."""

    root: Path
    as_of: datetime
    seed: int
    scale: int
    crm: dict[str, int] = field(default_factory=dict)
    ticketing: dict[str, int] = field(default_factory=dict)
    photos: int = 0
    cohorts: dict[str, int] = field(default_factory=dict)


def build_demo(root: Path, *, scale: int = 1, seed: int = 2578204, as_of: datetime) -> DemoSummary:
    """(Re)create root/crm.db, root/ticketing.db and root/media/ from `seed`.

    Every date is relative to `as_of`; the same arguments give identical files.
    """
    if scale < 1:
        raise ValueError("scale must be 1 or more")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    # One generator per system, so adding rows to one system leaves the others as they were.
    crm = generate_crm(PeopleFactory(seed), Timeline(as_of, random.Random(seed)), scale)
    tickets = generate_ticketing(
        PeopleFactory(seed + 100), Timeline(as_of, random.Random(seed + 1)), crm.ticketing, scale
    )
    photos = plan_photos(
        Timeline(as_of, random.Random(seed + 2)),
        crm.photographed,
        crm.photo_consent_withdrawn,
        scale,
    )
    _write_database(root / CRM_FILE, schema.crm, crm.rows)
    _write_database(root / TICKETING_FILE, schema.ticketing, tickets)
    media = root / MEDIA_DIR
    shutil.rmtree(media, ignore_errors=True)
    media.mkdir()
    write_photos(media, photos)
    cohorts = dict(crm.rows.cohorts) | dict(tickets.cohorts)
    five_years_ago = Period.parse("P5Y").before(naive_local(as_of))
    cohorts["photos.older_than_5y"] = sum(p.captured_at < five_years_ago for p in photos)
    cohorts["photos.of_withdrawn_consent"] = sum(
        bool(set(p.subjects) & set(crm.photo_consent_withdrawn)) for p in photos
    )
    return DemoSummary(
        root=root,
        as_of=as_of,
        seed=seed,
        scale=scale,
        crm=_counts(crm.rows),
        ticketing=_counts(tickets),
        photos=len(photos),
        cohorts=dict(sorted(cohorts.items())),
    )


def demo_env(root: Path) -> dict[str, str]:
    """The environment variables the id-north policy names, pointing at the demo."""
    root = Path(root).resolve()
    return {
        "RETENTION_CRM_URL": f"sqlite:///{root / CRM_FILE}",
        "RETENTION_TICKETING_URL": f"sqlite:///{root / TICKETING_FILE}",
        "RETENTION_MEDIA_PATH": str(root / MEDIA_DIR),
        "RETENTION_HASH_KEY": DEMO_HASH_KEY,
    }


def _write_database(path: Path, metadata: sa.MetaData, rows: Rows) -> None:
    path.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for table in metadata.sorted_tables:
                records: list[dict[str, Any]] = rows.tables.get(table.name, [])
                if records:
                    conn.execute(table.insert(), records)
    finally:
        engine.dispose()


def _counts(rows: Rows) -> dict[str, int]:
    return {name: len(records) for name, records in sorted(rows.tables.items())}
