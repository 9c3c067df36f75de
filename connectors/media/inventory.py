"""The top-level prefixes a media store holds, for the coverage check: one
listing request with a delimiter on S3, one directory read on a folder.
Keys at the root are reported as the prefix ""."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def folder_prefixes(root: Path) -> list[str]:
    found: set[str] = set()
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                found.add(f"{entry.name}/")
            elif entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                found.add("")
    return sorted(found)


def s3_prefixes(client: Any, bucket: str) -> list[str]:
    found: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/"):
        found.update(p["Prefix"] for p in page.get("CommonPrefixes", []))
        if page.get("Contents"):
            found.add("")
    return sorted(found)
