"""retention coverage: what the policy misses. On the demo copied to
SQLite, PostgreSQL and MariaDB: clean as shipped (also --strict); a new
personal column fails the check and is named, by its name or by its values,
without printing a sampled value; reviewing it with a reason passes; a
non-personal undeclared column fails only --strict; a media prefix no
dataset covers fails."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from flows.cli import main
from tests.demo_world import POLICY, policy_with

SECRET_EMAIL = "sampled.value@hidden-example.fi"
SECRET_PHONE = "+358 40 765 4321"


def coverage(capsys, policy: Path, *options: str) -> tuple[int, str]:
    code = main(["coverage", "--policy", str(policy), *options])
    return code, capsys.readouterr().out


def execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_coverage_names_an_undeclared_personal_column_until_it_is_reviewed(world, capsys, tmp_path):
    assert coverage(capsys, POLICY, "--strict")[0] == 0, "the demo is clean, also strictly"

    execute(
        world.crm,
        "ALTER TABLE contacts ADD mobile_phone VARCHAR(40)",
        # Named harmlessly, but its values are people's addresses and numbers.
        "ALTER TABLE contacts ADD remarks VARCHAR(400)",
        "ALTER TABLE contacts ADD shoe_size INTEGER",
        f"UPDATE contacts SET mobile_phone = '{SECRET_PHONE}', "
        f"remarks = 'call back: {SECRET_EMAIL} or {SECRET_PHONE}' WHERE id < 5",
    )
    code, out = coverage(capsys, POLICY)
    assert code == 1
    failing = [line for line in out.splitlines() if line.strip().startswith("FAIL")]
    assert any("crm.contacts.mobile_phone" in line and "phone" in line for line in failing)
    assert any("crm.contacts.remarks" in line and "(values)" in line for line in failing)
    assert not any("shoe_size" in line for line in failing), "not personal-looking: a note only"
    assert "crm.contacts.shoe_size" in out
    # What it sampled never leaves the check.
    assert SECRET_EMAIL not in out and "765" not in out

    def review(data: dict) -> None:
        data["systems"]["crm"]["reviewed"].append(
            {
                "table": "contacts",
                "columns": ["mobile_phone", "remarks"],
                "reason": "Test numbers of the switchboard; reviewed by the DPO.",
            }
        )

    reviewed = policy_with(tmp_path, review)
    assert coverage(capsys, reviewed)[0] == 0
    code, out = coverage(capsys, reviewed, "--strict")
    assert code == 1, "drift: shoe_size is declared nowhere and reviewed by no one"
    assert "crm.contacts.shoe_size" in out


def test_coverage_flags_a_new_table_and_a_media_prefix_no_dataset_covers(world, capsys):
    execute(
        world.ticketing,
        "CREATE TABLE chat_transcripts (id INTEGER PRIMARY KEY, visitor VARCHAR(200))",
        f"INSERT INTO chat_transcripts (id, visitor) VALUES (1, '{SECRET_EMAIL}')",
    )
    videos = Path(world.env["RETENTION_MEDIA_PATH"]) / "videos"
    videos.mkdir()
    (videos / "keynote.mp4").write_bytes(b"\0")

    code, out = coverage(capsys, POLICY)

    assert code == 1
    assert "table ticketing.chat_transcripts" in out and "email (values) in visitor" in out
    assert "media prefix media.videos/" in out
    assert SECRET_EMAIL not in out


def test_an_s3_bucket_s_prefixes_are_listed_and_judged(s3_client, make_bucket):
    from connectors.media.inventory import s3_prefixes
    from retention.coverage.check import media_findings
    from retention.policy_loader import load_policy

    bucket = make_bucket()
    for key in ("photos/2024/a.jpg", "videos/b.mp4", "notes.txt"):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"x")
    media = load_policy(POLICY, resolve=lambda ref: "not-a-real-secret-value").policy.systems[
        "media"
    ]

    prefixes = s3_prefixes(s3_client, bucket)

    assert prefixes == ["", "photos/", "videos/"]  # one listing with a delimiter
    found = {f.table for f in media_findings("media", media, prefixes)}
    assert found == {"videos/", "(keys at the root)"}
