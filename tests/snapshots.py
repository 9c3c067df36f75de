"""Read stores back with the tests' own SQL and file listings, so a test never
trusts the code it checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa


def table_rows(url: str, table: str, key: str = "id") -> dict[Any, dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        # Reflected, so that dates come back as dates on every dialect.
        reflected = sa.Table(table, sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            result = conn.execute(sa.select(reflected)).mappings()
            return {row[key]: dict(row) for row in result}
    finally:
        engine.dispose()


def query(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]
    finally:
        engine.dispose()


def database_snapshot(url: str) -> dict[str, dict[Any, dict[str, Any]]]:
    engine = sa.create_engine(url)
    try:
        names = sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    return {name: table_rows(url, name) for name in names}


def folder_listing(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def photo_facts(root: Path) -> dict[str, dict[str, Any]]:
    """Media file -> its sidecar's facts, read straight from the folder."""
    out = {}
    for sidecar in root.rglob("*.json"):
        media = sidecar.with_suffix("")
        if media.exists():
            out[str(media.relative_to(root))] = json.loads(sidecar.read_text())
    return out
