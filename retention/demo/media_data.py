"""Photos in a folder, each with a JSON sidecar naming who is in it.

The sidecar is the contract with the folder connector:
    <photo>.jpg.json = {"captured_at": ISO-8601 with offset,
                        "subjects": [CRM contact ids as strings],
                        "consent_ref": "..."}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from retention.demo.crm_data import EVENTS
from retention.demo.timeline import ZONE, Timeline

PHOTOS = 80

# JPEG start-of-image and end-of-image markers around a comment segment: a
# few hundred bytes that any tool recognises as a (placeholder) JPEG.
_SOI, _EOI, _COM = b"\xff\xd8", b"\xff\xd9", b"\xff\xfe"


@dataclass(frozen=True)
class Photo:
    relative_path: str
    captured_at: datetime
    subjects: list[int]
    consent_ref: str


def plan_photos(
    timeline: Timeline, photographed: list[int], withdrawn: list[int], scale: int
) -> list[Photo]:
    """Photos old and new; every contact who withdrew appears in a recent one."""
    rng = timeline.rng
    photos: list[Photo] = []
    kept = [c for c in photographed if c not in withdrawn]
    for n in range(PHOTOS * scale):
        captured = timeline.years_ago(0.1, 4.8) if n % 2 == 0 else timeline.years_ago(5.2, 9)
        if n < len(withdrawn):
            captured = timeline.years_ago(0.2, 4.5)
            subjects = [withdrawn[n]] + rng.sample(kept, 1)
        else:
            subjects = rng.sample(kept, rng.randint(1, 3))
        event = rng.choice(EVENTS)
        slug = event.lower().replace(" ", "-")
        name = f"{captured:%Y%m%d}-{slug}-{n + 1:04d}.jpg"
        photos.append(
            Photo(
                relative_path=f"photos/{captured.year}/{name}",
                captured_at=captured,
                subjects=sorted(set(subjects)),
                consent_ref=f"photography-consent/{event}",
            )
        )
    return photos


def write_photos(media_root: Path, photos: list[Photo]) -> None:
    for photo in photos:
        path = media_root / photo.relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        comment = f"ID North demo placeholder {photo.relative_path}".encode().ljust(300, b".")
        path.write_bytes(_SOI + _COM + (len(comment) + 2).to_bytes(2, "big") + comment + _EOI)
        sidecar = {
            "captured_at": photo.captured_at.replace(tzinfo=ZONE).isoformat(),
            "subjects": [str(s) for s in photo.subjects],
            "consent_ref": photo.consent_ref,
        }
        path.with_name(path.name + ".json").write_text(json.dumps(sidecar, indent=2) + "\n")
