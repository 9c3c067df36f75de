"""The `retention` command. Each subcommand is a thin shell over the same
core the flows use. Exit codes: 0 done, 1 the run had failures or the ledger
does not verify, 2 bad input (nothing was changed), 3 the run left due records
unchanged (not approved, or rules waiting for another), 4 another run is
applying (nothing was changed)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import exc as sa_errors

from retention.errors import PolicyMismatch, RetentionError

DEFAULT_POLICY = "deployments/id-north/policy.yaml"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_policy() -> str:
    """The policy in the working directory, else the one beside this code."""
    local = Path(DEFAULT_POLICY)
    return str(local if local.exists() else PROJECT_ROOT / DEFAULT_POLICY)


DEMO_ROOT = "demo-data"
EXIT_INCOMPLETE = 3  # the run left due records unchanged: not approved, or rules waiting


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from retention.logs import configure

    configure(level=args.log_level, json=args.log_json)
    try:
        return int(args.handler(args))
    except PolicyMismatch as exc:  # a connector knows its system, not the policy's file
        print(f"error: {exc.in_file(getattr(args, 'policy', '?'))}", file=sys.stderr)
        return exc.exit_code
    except RetentionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except sa_errors.DBAPIError as exc:
        # A database failed where no connector expected it: name the database
        # error's kind and first line; the statement and its values are not
        # shown, as they may hold personal data.
        orig = exc.orig
        first = str(orig).strip().splitlines()[0] if orig is not None else ""
        print(f"error: a database failed: {type(orig).__name__}: {first}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retention", description=__doc__)
    parser.add_argument("--log-level", default=os.environ.get("RETENTION_LOG_LEVEL", "INFO"))
    parser.add_argument("--log-json", action="store_true", help="log events as JSON lines")
    sub = parser.add_subparsers(required=True, metavar="command")

    def policy_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--policy", default=os.environ.get("RETENTION_POLICY") or default_policy())

    check = sub.add_parser("check", help="validate a policy file; connect to nothing")
    policy_arg(check)
    check.add_argument(
        "--connect",
        action="store_true",
        help="also connect to each system and check its tables, columns and types; change nothing",
    )
    check.set_defaults(handler=cmd_check)

    for name, helptext in (
        ("sweep", "run the retention sweep (a Prefect flow)"),
        ("plan", "show what a sweep would do; change nothing (a dry run)"),
    ):
        p = sub.add_parser(name, help=helptext)
        policy_arg(p)
        _sweep_options(p, plan_only=name == "plan")
        p.set_defaults(handler=cmd_sweep)

    verify = sub.add_parser("verify", help="walk the ledger's hash chain and report problems")
    verify.add_argument(
        "--full",
        action="store_true",
        help="re-read every entry, not only those after the last checkpoint",
    )
    verify.set_defaults(handler=cmd_verify)

    report = sub.add_parser("report", help="a run's evidence report, built from the ledger")
    report.add_argument("--run", help="run id (default: the latest run)")
    report.add_argument("--format", choices=["markdown", "json"], default="markdown")
    report.set_defaults(handler=cmd_report)

    lookup = sub.add_parser("lookup", help="did we erase this person? (needs the HMAC key)")
    policy_arg(lookup)
    for kind in ("email", "phone", "crm-contact-id", "ticketing-user-id"):
        lookup.add_argument(f"--{kind}", action="append", default=[])
    lookup.set_defaults(handler=cmd_lookup)

    erase = sub.add_parser(
        "erase", help="forget a person (or every person in --file) everywhere, with a certificate"
    )
    policy_arg(erase)
    for kind in ("email", "phone", "crm-contact-id", "ticketing-user-id", "name"):
        erase.add_argument(f"--{kind}", action="append", default=[])
    erase.add_argument("--file", help="a CSV of requests: a header row naming these fields")
    erase.add_argument("--request-id", help="your reference (default: a new one); used once")
    erase.add_argument(
        "--kind",
        choices=["erasure", "marketing-withdrawn", "photography-withdrawn"],
        default="erasure",
    )
    erase.add_argument("--requested-by", default="", help="who received the request")
    erase.add_argument(
        "--override-restriction", default="", metavar="REASON",
        help="erase although the cooperation is in force (the reason goes to the ledger)",
    )  # fmt: skip
    erase.add_argument("--dry-run", action="store_true", help="show what it would do")
    erase.add_argument("--approve-as", help="approve a request over the policy's limits")
    erase.add_argument("--wait", type=float, default=0.0, metavar="SECONDS")
    erase.add_argument("--json", action="store_true", help="print certificates as JSON")
    erase.set_defaults(handler=cmd_erase)

    suppressed = sub.add_parser(
        "suppressed", help="may this person be imported? exit 1 if they withdrew marketing consent"
    )
    policy_arg(suppressed)
    for kind in ("email", "phone"):
        suppressed.add_argument(f"--{kind}", action="append", default=[])
    suppressed.set_defaults(handler=cmd_suppressed)

    certificate = sub.add_parser("certificate", help="an erasure request's certificate")
    certificate.add_argument("--request-id", required=True)
    certificate.add_argument("--format", choices=["markdown", "json"], default="markdown")
    certificate.set_defaults(handler=cmd_certificate)

    from flows.cli_rights import add_commands

    add_commands(sub, policy_arg)

    demo = sub.add_parser("demo", help="build the demo systems (if missing) and sweep them")
    demo.add_argument(
        "--root", default=str(PROJECT_ROOT / DEMO_ROOT), help="where the demo systems live"
    )
    demo.add_argument(
        "--env",
        action="store_true",
        help='print the demo\'s environment as shell exports (eval "$(retention demo --env)")',
    )
    demo.add_argument("--scale", type=int, default=1)
    demo.add_argument("--seed", type=int, default=2578204)
    demo.add_argument("--fresh", action="store_true", help="rebuild the demo data first")
    _sweep_options(demo, plan_only=False)
    demo.set_defaults(handler=cmd_demo, policy=default_policy())
    return parser


def _sweep_options(p: argparse.ArgumentParser, *, plan_only: bool) -> None:
    if not plan_only:
        p.add_argument("--dry-run", action="store_true", help="plan and report, change nothing")
    p.add_argument("--rule", action="append", dest="rules", help="only this rule (repeatable)")
    p.add_argument("--as-of", type=_moment, help="evaluate periods at this ISO date/time")
    p.add_argument("--approve-as", help="approve plans over their limits, as this reviewer")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="if another run is applying, wait this long for it (default: exit 4 at once)",
    )
    p.set_defaults(plan_only=plan_only)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--as-of: {text!r} is not an ISO date") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- commands ----------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from retention.pipeline.order import check_order, describe
    from retention.policy_loader import load_policy
    from tasks.secrets import resolve_secret

    loaded = load_policy(args.policy, resolve=resolve_secret)
    policy = loaded.policy
    check_order(policy, loaded.path)
    datasets = sum(len(s.datasets) for s in policy.systems.values())
    if args.connect:
        from tasks.preflight import check_systems

        check_systems(loaded)
    print(
        f"{args.policy}: valid. policy {policy.name} sha256:{loaded.sha256}\n"
        f"  {len(policy.systems)} systems, {datasets} datasets, {len(policy.rules)} rules, "
        f"{len(policy.holds)} holds"
    )
    if args.connect:
        print("  connected: every system has the tables, columns and types it describes")
    print("  rules run in this order (each after the rules whose records it could hide):")
    print("\n".join(describe(policy)))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from retention.pipeline.outcome import render_table
    from retention.pipeline.selection import select_rules
    from tasks.setup import load_checked_policy

    # Validate before anything starts: a bad file or rule fails at once, exit 2.
    loaded = load_checked_policy(args.policy)
    select_rules(loaded.policy, args.rules)
    summary = _run(args, dry_run=args.plan_only or args.dry_run)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(render_table(summary))
        waiting = [o.rule_id for o in summary.outcomes if o.status == "not-approved"]
        if waiting:
            print(
                f"\n{len(waiting)} rule(s) over their limits were not applied: "
                f"{', '.join(waiting)}.\nReview the plan (retention plan), then rerun with "
                "--approve-as YOUR_NAME, or approve the run in the Prefect UI."
            )
    return exit_code(summary)


def exit_code(summary) -> int:  # type: ignore[no-untyped-def]
    """0 done; 1 failures; 3 due records left unchanged (not approved, waiting)."""
    if not summary.ok:
        return 1
    if summary.dry_run or summary.status == "completed":
        return 0
    return EXIT_INCOMPLETE


def _run(args: argparse.Namespace, *, dry_run: bool):  # type: ignore[no-untyped-def]
    """The sweep, in this process; as a Prefect flow run when a Prefect API
    is configured (so it shows in the UI), else without Prefect at all (a
    terminal should not wait for a temporary server)."""
    options = dict(
        dry_run=dry_run,
        rules=args.rules,
        as_of=args.as_of,
        approved_by=args.approve_as,
        lease_wait_s=args.wait,
    )
    if not os.environ.get("PREFECT_API_URL"):
        from tasks.sweep import run_sweep

        return run_sweep(args.policy, trigger="cli", **options)  # type: ignore[arg-type]
    from prefect.states import State

    from flows.nightly_sweep import SweepFailed, retention_sweep

    try:
        # A terminal has no approval form: use --approve-as.
        result = retention_sweep(policy=args.policy, ask_approval=False, **options)
    except SweepFailed as exc:
        return exc.summary
    return result.result() if isinstance(result, State) else result


def _open_ledger_from_env():  # type: ignore[no-untyped-def]
    from retention.ledger import Ledger
    from retention.runtime import READ_ONLY_KEYS, ledger_url

    # Walking the chain and reading entries need no HMAC key: hashing does.
    policy = os.environ.get("RETENTION_POLICY") or default_policy()
    return Ledger.open(ledger_url(policy), keys=READ_ONLY_KEYS, current_key_id="read-only")


def cmd_verify(args: argparse.Namespace) -> int:
    from tasks.export import describe_owed, owed_exports
    from tasks.verify import verify_ledger_at

    policy = os.environ.get("RETENTION_POLICY") or default_policy()
    result, ledger, signed = verify_ledger_at(policy, full=args.full)
    try:
        owed = owed_exports(ledger)
    finally:
        ledger.close()
    if owed:
        print(describe_owed(owed))
    if not signed:
        print("no hash key: walked the whole chain, no checkpoint kept")
    elif result.started_after:
        print(f"from the checkpoint at entry {result.started_after} (--full re-reads all)")
    if result.ok:
        print(f"ledger verifies: {result.entries} entries, chain intact")
        return 1 if owed else 0
    print(f"ledger does NOT verify ({result.entries} entries):")
    for seq, what in result.problems:
        print(f"  entry {seq}: {what}")
    return 1


def cmd_report(args: argparse.Namespace) -> int:
    from retention.ledger import build_report

    ledger = _open_ledger_from_env()
    try:
        entries = ledger.entries(args.run) if args.run else ledger.entries()
        if not args.run:
            runs = [e.run_id for e in entries if e.kind == "run-start"]
            if not runs:
                raise RetentionError("the ledger has no runs yet")
            entries = [e for e in entries if e.run_id == runs[-1]]
        report = build_report(entries)
    finally:
        ledger.close()
    print(report.to_json() if args.format == "json" else report.to_markdown())
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    from retention.pipeline.erase_input import requests_from_args
    from tasks.erase import run_erase

    requests = requests_from_args(args)
    result = run_erase(
        args.policy,
        requests,
        dry_run=args.dry_run,
        approved_by=args.approve_as,
        trigger="cli",
        lease_wait_s=args.wait,
    )
    if args.dry_run:
        for request_id, found in result.previews.items():
            total = sum(found.values())
            print(f"request {request_id} (dry run): {total} record(s) of the person found")
            for name, count in found.items():
                print(f"  {name}: {count}")
            if request_id in result.prepared.restricted:
                print(f"  restricted in {', '.join(result.prepared.restricted[request_id])}")
        if not result.previews:
            print("dry run: every request was acted on before; nothing to do")
        return 0
    for cert in result.certificates:
        print(cert.to_json() if args.json else cert.to_markdown())
    if not result.ok:
        return 1
    statuses = {c.status for c in result.certificates}
    return 3 if statuses & {"incomplete", "restricted"} else 0


def cmd_suppressed(args: argparse.Namespace) -> int:
    from retention.identity import validate
    from retention.pipeline.suppression import is_suppressed
    from retention.policy_loader import load_policy
    from retention.runtime import ledger_keys, ledger_url
    from tasks.secrets import resolve_secret

    loaded = load_policy(args.policy, resolve=resolve_secret, only_systems=set())
    identities = validate({k: v for k, v in (("email", args.email), ("phone", args.phone)) if v})
    keys, current = ledger_keys(loaded)
    from retention.ledger import Ledger

    with Ledger.open(ledger_url(args.policy), keys=keys, current_key_id=current) as ledger:
        entry = is_suppressed(ledger, identities)
    if entry is None:
        print("not suppressed: no marketing withdrawal names this person")
        return 0
    print(
        f"suppressed: marketing consent withdrawn (request {entry.detail.get('request_id')}, "
        f"{entry.at:%Y-%m-%d}); do not import this person for marketing"
    )
    return 1


def cmd_certificate(args: argparse.Namespace) -> int:
    from retention.ledger.certificate import certificate_of

    ledger = _open_ledger_from_env()
    try:
        entry = ledger.latest_request(args.request_id)
    finally:
        ledger.close()
    if entry is None:
        raise RetentionError(f"--request-id: no request {args.request_id!r} in the ledger")
    cert = certificate_of(entry)
    print(cert.to_json() if args.format == "json" else cert.to_markdown())
    return 0


def cmd_lookup(args: argparse.Namespace) -> int:
    from retention.identity import validate
    from retention.ledger import Ledger
    from retention.policy_loader import load_policy
    from retention.runtime import ledger_keys, ledger_url
    from tasks.secrets import resolve_secret

    # First: the policy says in which region a number without a country code is.
    loaded = load_policy(args.policy, resolve=resolve_secret, only_systems=set())
    identities = validate(
        {
            kind: values
            for kind, values in (
                ("email", args.email),
                ("phone", args.phone),
                ("crm_contact_id", args.crm_contact_id),
                ("ticketing_user_id", args.ticketing_user_id),
            )
            if values
        }
    )
    keys, current = ledger_keys(loaded)
    ledger = Ledger.open(ledger_url(args.policy), keys=keys, current_key_id=current)
    try:
        found = ledger.lookup(identities)
    finally:
        ledger.close()
    if not found:
        print("no ledger entry names this person")
        return 0
    for entry in found:
        if entry.kind == "request":
            print(
                f"{entry.at}  run {entry.run_id}  request    {entry.detail.get('request_id')}  "
                f"{entry.detail.get('request_kind')}  {entry.outcome}  "
                f"(retention certificate --request-id {entry.detail.get('request_id')})"
            )
            continue
        if entry.kind == "access":
            print(
                f"{entry.at}  access     {entry.detail.get('request_id')}  systems "
                f"{', '.join(entry.detail.get('systems', []))}  {entry.count} record(s) shown"
            )
            continue
        print(
            f"{entry.at}  run {entry.run_id}  {entry.kind:10} {entry.system}.{entry.dataset}  "
            f"rule {entry.rule_id}  {entry.action}  {entry.outcome or ''}"
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from retention.demo.build import build_demo, demo_env

    root = Path(args.root).resolve()
    if args.env:
        print(shell_exports(demo_environment(root)))
        return 0
    os.environ.update(demo_env(root))
    os.environ.setdefault("PREFECT_HOME", str(root / ".prefect"))
    if args.fresh or not (root / "crm.db").exists():
        as_of = args.as_of or datetime.now(UTC)
        summary = build_demo(root, scale=args.scale, seed=args.seed, as_of=as_of)
        counts = {**summary.crm, **summary.ticketing, "photos": summary.photos}
        print(
            f"demo systems built in {root} (as of {as_of:%Y-%m-%d}): "
            + ", ".join(f"{n} {t}" for t, n in counts.items())
        )
    else:
        print(f"demo systems found in {root} (use --fresh to rebuild)")
    args.approve_as = args.approve_as or "demo-operator"
    return cmd_sweep(args)


def demo_environment(root: Path) -> dict[str, str]:
    """What a shell, a worker or `make serve` needs to run on the demo: the
    systems, the key, the policy, and the ledger's absolute URL (the one
    `retention demo` writes), so every command finds the same ledger."""
    from retention.demo.build import demo_env
    from retention.runtime import ledger_url

    policy = str(Path(os.environ.get("RETENTION_POLICY") or default_policy()).resolve())
    return {
        **demo_env(root),
        "RETENTION_HOME": str(PROJECT_ROOT),
        "RETENTION_POLICY": policy,
        "RETENTION_LEDGER_URL": ledger_url(policy),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def shell_exports(env: dict[str, str]) -> str:
    import shlex

    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in env.items())


if __name__ == "__main__":
    sys.exit(main())
