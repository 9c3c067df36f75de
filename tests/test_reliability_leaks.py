"""Leaks: after a full demo sweep (in JSON log mode as a Prefect flow run,
with its temporary API and database; in text mode from the command line),
the evidence report in both formats and `retention verify`, no file the
run wrote holds a seeded person's email, phone number, full name or IP
address: the ledger, the run's and the commands' logs, Prefect's database
(its logs, artifacts: plan, summary, evidence report) and home folder, the
reports, the ledger segment exported to a write-once bucket.

The scanner reads every file as bytes, also with JSON's \\uXXXX escapes
undone, and compares emails case-folded and phone numbers digit by digit; a
positive control plants one value of each kind and must find them all.

Before the sweep, one person is erased from the command line (logs in the
same mode, the certificate printed as markdown in text mode and as JSON in
JSON mode), and `retention certificate` prints that request's certificate
in both formats: the erasure's output and logs, and both certificates, are
scanned too; a second positive control plants the erased person's email in
a copy of the real JSON certificate.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from retention import identity
from retention.demo.build import build_demo, demo_env
from tests.demo_world import AS_OF, POLICY, World
from tests.faults import ROOT
from tests.test_erasure import a_person_with_everything

pytestmark = [pytest.mark.reliability, pytest.mark.s3]

ERASED = "LEAK-1"  # the request id of the erasure each run makes

# (database, table, columns that hold one person's identity or name)
PERSONAL: list[tuple[str, str, list[str | tuple[str, str]]]] = [
    ("crm", "contacts", ["email", "phone", ("first_name", "last_name")]),
    ("crm", "invoices", ["billing_email", "billing_name"]),
    ("crm", "web_visits", ["ip_address"]),
    ("ticketing", "users", ["email", "phone", "full_name"]),
    ("ticketing", "login_accounts", ["username", "last_login_ip"]),
]
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_IP = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
_PHONE = re.compile(r"\+?\(?\d[\d \-().]{5,}\d")
_NAME = re.compile(r"[^\W\d_][\w'\-]+ [^\W\d_][\w'\-]+")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass
class People:
    """The seeded people's identities, in the forms a scan compares."""

    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)  # digits of every spelling
    names: set[str] = field(default_factory=set)  # case-folded full names
    ips: set[str] = field(default_factory=set)

    def add(self, value: str) -> None:
        value = value.strip()
        if _EMAIL.fullmatch(value):
            self.emails.add(value.casefold())
        elif _IP.fullmatch(value):
            self.ips.add(value)
        elif identity.looks_like_phone(value):
            self.phones.update(_digit_forms(value))
        elif " " in value:
            self.names.add(value.casefold())


def _digit_forms(text: str) -> set[str]:
    forms = {re.sub(r"\D", "", text)}
    with contextlib.suppress(identity.IdentityError):
        forms.update(identity.parse_phone(text).digit_forms())
    return {f for f in forms if len(f) >= 7}


def seeded_people(root: Path) -> People:
    people = People()
    for database, table, columns in PERSONAL:
        engine = sa.create_engine(f"sqlite:///{root / (database + '.db')}")
        with engine.connect() as conn:
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")).mappings():
                for column in columns:
                    parts = column if isinstance(column, tuple) else (column,)
                    value = " ".join(str(row[p]) for p in parts if row[p])
                    if value:
                        people.add(value)
        engine.dispose()
    return people


def hits(people: People, path: Path) -> list[str]:
    raw = path.read_bytes().decode("utf-8", errors="replace")
    found: list[str] = []
    for text in (raw, _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), raw)):
        found += [f"email {m}" for m in _EMAIL.findall(text) if m.casefold() in people.emails]
        found += [f"ip {m}" for m in _IP.findall(text) if m in people.ips]
        # The seeded numbers are held in every digit form a spelling reduces to.
        found += [
            f"phone {m}" for m in _PHONE.findall(text) if re.sub(r"\D", "", m) in people.phones
        ]
        found += [f"name {m}" for m in _NAME.findall(text) if m.casefold() in people.names]
    return sorted(set(found))


def scan(people: People, files: list[Path]) -> dict[str, list[str]]:
    return {str(f): found for f in files if (found := hits(people, f))}


FLOW = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    from retention.logs import configure
    configure(json=sys.argv[1] == "json")
    from flows.nightly_sweep import retention_sweep
    summary = retention_sweep(policy=sys.argv[2], as_of=datetime.fromisoformat(sys.argv[3]),
                              approved_by="demo-operator", ask_approval=False)
    print("run", summary.run_id)
    """
)


def run(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    assert done.returncode == 0, log.read_text()[-3000:]


def written_by_a_run(root: Path, mode: str, env: dict[str, str], email: str) -> list[Path]:
    """Erase the person with this email (from the command line, certificate
    as markdown in text mode, as JSON in JSON mode); sweep (JSON: as a
    Prefect flow run on a temporary API; text: from the command line); then
    the certificate in both formats, report and verify; every file they wrote."""
    cli = [sys.executable, "-m", "flows.cli", *(["--log-json"] if mode == "json" else [])]
    erase = [*cli, "erase", "--email", email, "--request-id", ERASED, "--requested-by", "dpo"]
    run([*erase, *(["--json"] if mode == "json" else [])], env, root / "erase.log")
    if mode == "json":
        sweep = [sys.executable, "-c", FLOW, mode, str(POLICY), AS_OF.isoformat()]
    else:
        sweep = [*cli, "sweep", "--as-of", AS_OF.isoformat(), "--approve-as", "demo-operator"]
    run(sweep, env, root / "run.log")
    run([*cli, "report"], env, root / "report.md")
    run([*cli, "report", "--format", "json"], env, root / "report.json")
    run([*cli, "verify"], env, root / "verify.log")
    run([*cli, "certificate", "--request-id", ERASED], env, root / "certificate.md")
    certificate_json = [*cli, "certificate", "--request-id", ERASED, "--format", "json"]
    run(certificate_json, env, root / "certificate.json")
    data = {root / "crm.db", root / "ticketing.db"}
    return [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p not in data and "media" not in p.relative_to(root).parts
    ]


def exported_segments(client, bucket: str, into: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    into.mkdir()
    files = []
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        target = into / item["Key"].replace("/", "_")
        target.write_bytes(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        files.append(target)
    return files


@pytest.mark.parametrize("mode", ["text", "json"])
def test_no_file_a_run_writes_holds_personal_data(
    tmp_path, mode, s3_client, s3_endpoint, make_bucket
) -> None:
    root = tmp_path / "demo"
    build_demo(root, as_of=AS_OF)
    people = seeded_people(root)
    assert min(len(people.emails), len(people.phones), len(people.names), len(people.ips)) > 50
    worm = make_bucket(object_lock=True)
    env = {
        **os.environ,
        **demo_env(root),
        "RETENTION_LEDGER_URL": f"sqlite:///{root / 'ledger.db'}",
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # A temporary API on a busy 2-core machine can take longer than the default 20 s.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "RETENTION_EXPORT_BUCKET": worm,
        "RETENTION_EXPORT_ENDPOINT_URL": s3_endpoint,
    }
    env.pop("PREFECT_API_URL", None)

    demo = World(env, env["RETENTION_CRM_URL"], env["RETENTION_TICKETING_URL"])
    erased = a_person_with_everything(demo)["contact"]["email"]
    assert erased.casefold() in people.emails

    files = written_by_a_run(root, mode, env, erased)
    files += exported_segments(s3_client, worm, root / "exports")

    names = {f.name for f in files}
    assert {"ledger.db", "run.log", "report.md", "report.json"} <= names, names
    assert {"erase.log", "certificate.md", "certificate.json"} <= names, names
    # The erasure acted, logged in this mode, and printed its certificate in this mode.
    certificate = json.loads((root / "certificate.json").read_text())
    assert certificate["request_id"] == ERASED and certificate["status"] == "completed"
    assert sum(c.get("anonymised", 0) for c in certificate["datasets"].values()) > 0
    erase_log = (root / "erase.log").read_text()
    assert "batch applied" in erase_log
    if mode == "json":
        assert '"event": "batch applied"' in erase_log and f'"request_id": "{ERASED}"' in erase_log
    else:
        assert f"# Certificate of erasure: request {ERASED}" in erase_log
    assert f"# Certificate of erasure: request {ERASED}" in (root / "certificate.md").read_text()
    assert mode == "text" or "prefect.db" in names
    assert any(f.parent.name == "exports" and "segment" in f.name for f in files), names
    assert "# Retention report" in (root / "report.md").read_text()
    assert scan(people, files) == {}

    # The positive control: one value of each kind, as a log or JSON would hold it.
    email, phone = sorted(people.emails)[0], sorted(people.phones)[0]
    name, ip = sorted(n for n in people.names if not n.isascii())[0], sorted(people.ips)[0]
    planted = root / "planted.json"
    escaped = name.title().encode("ascii", "backslashreplace").decode().replace("\\x", "\\u00")
    planted.write_text(f'{{"to": "{email.upper()}", "call": "+{phone}", "who": "{escaped}", '
                       f'"from": "{ip}"}}')  # fmt: skip
    # A certificate that named the erased person would be found the same way.
    named = root / "planted-certificate.json"
    named.write_text(json.dumps({**certificate, "requested_by": erased}, indent=2))
    found = scan(people, [*files, planted, named])
    assert list(found) == [str(planted), str(named)]
    assert [kind.split()[0] for kind in found[str(planted)]] == ["email", "ip", "name", "phone"]
    assert found[str(named)] == [f"email {erased}"]
