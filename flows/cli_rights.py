"""`retention coverage` and `retention access`: the policy's blind spots,
and a person's right to know what is held about them. Kept apart from
cli.py, which only registers them."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from retention.errors import RetentionError

IDENTITY_OPTIONS = ("email", "phone", "crm-contact-id", "ticketing-user-id")


def add_commands(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    policy_arg: Callable[[argparse.ArgumentParser], None],
) -> None:
    coverage = sub.add_parser(
        "coverage", help="tables, columns and media prefixes no dataset declares"
    )
    policy_arg(coverage)
    coverage.add_argument(
        "--strict",
        action="store_true",
        help="fail on anything undeclared and unreviewed, not only what looks personal (CI)",
    )
    coverage.add_argument("--json", action="store_true", help="print the findings as JSON")
    coverage.set_defaults(handler=cmd_coverage)

    access = sub.add_parser(
        "access", help="everything held about a person, and how long it is kept (GDPR art. 15)"
    )
    policy_arg(access)
    for kind in IDENTITY_OPTIONS:
        access.add_argument(f"--{kind}", action="append", default=[])
    access.add_argument("--request-id", help="your reference (default: a new one)")
    access.add_argument(
        "--requested-by", default="", help="who received the request (default: your user name)"
    )
    access.add_argument(
        "--out",
        default=os.environ.get("RETENTION_ACCESS_DIR", "access-reports"),
        help="folder for the JSON bundle and the Markdown and HTML reports",
    )
    access.set_defaults(handler=cmd_access)


def cmd_coverage(args: argparse.Namespace) -> int:
    from tasks.coverage import run_coverage

    report = run_coverage(args.policy)
    print(report.to_json(args.strict) if args.json else report.to_text(args.strict))
    return report.exit_code(args.strict)


def cmd_access(args: argparse.Namespace) -> int:
    from retention.access.request import AccessRequest
    from tasks.access import run_access, write_bundle

    fields: dict[str, object] = {
        kind.replace("-", "_"): getattr(args, kind.replace("-", "_")) for kind in IDENTITY_OPTIONS
    }
    # The ledger says who asked for the data: the receiver if named, else who ran this.
    fields["requested_by"] = args.requested_by or getpass.getuser()
    if args.request_id:
        fields["request_id"] = args.request_id
    try:
        request = AccessRequest.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RetentionError(f"--{first['loc'][0]}: {first['msg']}".replace("_", "-")) from None
    bundle = run_access(args.policy, request)
    paths = write_bundle(bundle, Path(args.out))
    if bundle.nothing_held:
        print(f"request {bundle.request_id}: nothing is held about this person")
    else:
        print(
            f"request {bundle.request_id}: {bundle.record_count} record(s) held, "
            f"in {len(bundle.categories)} categories:"
        )
        for name, count in bundle.counts().items():
            print(f"  {name}: {count}")
    print("the person's data (owner-readable only; hand it over, then delete it):")
    for kind, path in paths.items():
        print(f"  {kind}: {path}")
    print("the access is recorded in the ledger (who asked, when, which systems answered)")
    return 0
