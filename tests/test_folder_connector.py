"""The folder media connector on a real folder: photos with JSON sidecars."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.media.facts import MediaInputError
from connectors.media.folder import FolderConnector, open_folder_connector
from retention.errors import IdentityError
from retention.policy import Action, Policy, Rule, System

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OLD = "2019-05-01T10:00:00+00:00"
RECENT = "2024-03-01T10:00:00+00:00"
DELETE = Action(kind="delete")

MEDIA = System.model_validate(
    {
        "kind": "folder",
        "connection": {"env": "MEDIA_ROOT"},
        "datasets": {
            "photos": {
                "prefix": "photos/",
                "primary_key": "key",
                "columns": ["captured_at", "subjects", "consent_ref"],
            }
        },
    }
)

HOLD = {
    "id": "event_contract",
    "law": "Laki velan vanhentumisesta 728/2003",
    "why": "claims from the event contract",
    "dataset": "media.photos",
    "clock": "captured_at",
    "period": "P10Y",
}


def rule(held: bool = False, **due: Any) -> Rule:
    return Rule.model_validate(
        {
            "id": "photos",
            "clause": "photos: 5 years from capture, or until consent is withdrawn",
            "why": "register: media",
            "dataset": "media.photos",
            "due": due or {"clock": "captured_at", "after": "P5Y"},
            "action": {"kind": "delete"},
            "holds": ["event_contract"] if held else [],
        }
    )


def policy(holds: list[dict[str, Any]]) -> Policy:
    return Policy.model_validate(
        {
            "version": 1,
            "name": "t",
            "controller": "ID North Oy",
            "systems": {"media": MEDIA},
            "holds": holds,
            "rules": [rule()],
        }
    )


def photo(root: Path, key: str, facts: dict[str, Any] | None) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"JPEG" + key.encode())
    if facts is not None:
        path.with_name(path.name + ".json").write_text(json.dumps(facts))


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def album(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    photo(root, "photos/2019/a.jpg", {"captured_at": OLD, "subjects": ["123", "456"]})
    photo(root, "photos/2019/b.jpg", {"captured_at": OLD, "subjects": ["9"]})
    photo(root, "photos/2024/c.jpg", {"captured_at": RECENT, "subjects": ["123"]})
    photo(root, "photos/2024/d.jpg", {"captured_at": RECENT, "subjects": ["77"]})
    photo(root, "photos/nodate/e.jpg", {"subjects": ["123"]})
    photo(root, "photos/nosidecar/f.jpg", None)
    (root / "photos/2019/broken.jpg").write_bytes(b"x")
    (root / "photos/2019/broken.jpg.json").write_text("{not json")
    return root


def connect(root: Path, holds: list[dict[str, Any]] | None = None) -> FolderConnector:
    return open_folder_connector(
        "media", MEDIA, str(root), hash_key=b"k" * 32, policy=policy(holds or [])
    )


def sweep(conn: FolderConnector, r: Rule) -> list[str]:
    done = []
    for batch in conn.scan(r, now=NOW):
        result = conn.apply("photos", DELETE, batch.due, now=NOW, rule=r)
        assert not result.failed
        done += [str(k) for k in result.done]
    return done


def test_sweep_deletes_due_files_with_their_sidecars_and_nothing_else(album: Path) -> None:
    before = snapshot(album)
    conn = connect(album)

    done = sweep(conn, rule())

    assert done == ["photos/2019/a.jpg", "photos/2019/b.jpg"]
    after = snapshot(album)
    gone = {
        "photos/2019/a.jpg",
        "photos/2019/a.jpg.json",
        "photos/2019/b.jpg",
        "photos/2019/b.jpg.json",
    }
    assert set(before) - set(after) == gone
    assert after == {k: v for k, v in before.items() if k not in gone}  # byte-identical
    again = list(conn.scan(rule(), now=NOW))  # twice does nothing more
    assert [k for b in again for k in [*b.due, *b.held]] == []
    assert sum(b.undated for b in again) == 3  # the undated photos: counted, never acted on
    assert conn.count("photos") == 5


def test_consent_withdrawal_matches_any_subject_and_find_subject_agrees(album: Path) -> None:
    conn = connect(album)

    assert conn.find_subject({"crm_contact_id": ["123"]}) == {
        "photos": ["photos/2019/a.jpg", "photos/2024/c.jpg", "photos/nodate/e.jpg"]
    }
    done = sweep(conn, rule(where=[{"column": "subjects", "op": "in", "value": ["123", "8"]}]))

    assert done == ["photos/2019/a.jpg", "photos/2024/c.jpg", "photos/nodate/e.jpg"]
    assert conn.find_subject({"crm_contact_id": ["123"]}) == {}
    assert (album / "photos/2019/b.jpg").read_bytes() == b"JPEGphotos/2019/b.jpg"
    assert conn.subject_values("photos", "subjects", []) == {"9", "77"}


def test_a_hold_keeps_due_photos_until_its_end(album: Path) -> None:
    conn = connect(album, holds=[HOLD])
    held_rule = rule(clock="captured_at", after="P5Y", held=True)

    batches = list(conn.scan(held_rule, now=NOW))

    assert [k for b in batches for k in b.due] == []
    assert sorted((h.key, h.until) for b in batches for h in b.held) == [
        ("photos/2019/a.jpg", datetime(2029, 5, 1, 10, tzinfo=UTC)),
        ("photos/2019/b.jpg", datetime(2029, 5, 1, 10, tzinfo=UTC)),
    ]
    result = conn.apply("photos", DELETE, ["photos/2019/a.jpg"], now=NOW, rule=held_rule)
    assert result.done == [] and [h.hold_id for h in result.kept] == ["event_contract"]
    assert (album / "photos/2019/a.jpg").exists()


def test_apply_rechecks_and_skips_a_photo_no_longer_due(album: Path) -> None:
    conn = connect(album)
    [batch] = list(conn.scan(rule(), now=NOW))
    (album / "photos/2019/b.jpg.json").write_text(json.dumps({"captured_at": RECENT}))

    result = conn.apply("photos", DELETE, batch.due, now=NOW, rule=rule())

    assert result.done == ["photos/2019/a.jpg"]
    assert result.skipped == ["photos/2019/b.jpg"]
    assert (album / "photos/2019/b.jpg").exists()


def test_a_sidecar_left_by_an_interrupted_run_is_removed_next_time(album: Path) -> None:
    (album / "photos/2019/a.jpg").unlink()  # killed after the file, before the sidecar
    conn = connect(album)

    done = sweep(conn, rule())

    assert done == ["photos/2019/a.jpg", "photos/2019/b.jpg"]
    assert not (album / "photos/2019/a.jpg.json").exists()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["photos/2019/a.jpg", "photos/../secret.txt"], r"keys\[1\]: not a plain relative path"),
        (["photos/2019/a.jpg.json"], r"keys\[0\]: key is a sidecar"),
        (["other/a.jpg"], r"keys\[0\]: key is outside the dataset's prefix"),
    ],
)
def test_bad_keys_are_refused_and_nothing_changes(
    album: Path, keys: list[str], message: str
) -> None:
    before = snapshot(album)
    conn = connect(album)

    with pytest.raises(MediaInputError, match=message):
        conn.apply("photos", DELETE, keys, now=NOW)

    assert snapshot(album) == before


def test_naive_now_and_metadata_source_are_refused(album: Path) -> None:
    conn = connect(album)
    with pytest.raises(MediaInputError, match="now: a datetime without a timezone"):
        list(conn.scan(rule(), now=NOW.replace(tzinfo=None)))
    tagged = System.model_validate(
        {
            **MEDIA.model_dump(),
            "datasets": {"photos": {"prefix": "p/", "facts": {"source": "tags"}}},
        }
    )
    with pytest.raises(MediaInputError, match="facts.source: a folder has no tags"):
        open_folder_connector("media", tagged, str(album), hash_key=b"k")


@pytest.mark.parametrize("identities", [{"crm_contact_id": [""]}, {"crm_contact_id": ["*"]}, {}])
def test_an_empty_or_wildcard_subject_is_refused(album: Path, identities: dict[str, Any]) -> None:
    before = snapshot(album)
    with pytest.raises(IdentityError):
        connect(album).find_subject(identities)
    assert snapshot(album) == before


def test_keys_lists_every_photo_left_and_not_the_erased_or_sidecars(album: Path) -> None:
    conn = connect(album)
    conn.apply("photos", DELETE, ["photos/2019/a.jpg"], now=NOW)
    listed = [key for page in conn.keys("photos") for key in page]
    assert listed == sorted(listed)
    assert "photos/2019/a.jpg" not in listed and not any(str(k).endswith(".json") for k in listed)
    assert {"photos/2019/b.jpg", "photos/2024/c.jpg", "photos/nosidecar/f.jpg"} <= set(listed)


def test_the_intent_names_only_files_that_are_there_to_delete(album: Path) -> None:
    """Recovery claims an intent's keys that are gone: a key named though
    already gone would be claimed as erased by this batch."""
    conn = connect(album)
    recorded: list[Any] = []

    result = conn.apply(
        "photos",
        DELETE,
        ["photos/2019/a.jpg", "photos/2019/gone.jpg"],
        now=NOW,
        record=recorded.append,
    )

    assert [p.changes for p in recorded] == [["photos/2019/a.jpg"]]
    assert result.done == ["photos/2019/a.jpg"]
    assert result.skipped == ["photos/2019/gone.jpg"]
    again = conn.apply("photos", DELETE, ["photos/2019/gone.jpg"], now=NOW, record=recorded.append)
    assert again.skipped == ["photos/2019/gone.jpg"]
    assert len(recorded) == 1  # nothing to change: no intent at all
