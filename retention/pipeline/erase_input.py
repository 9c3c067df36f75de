"""Erasure requests from a terminal's arguments or a CSV file, validated
before anything runs (a bad row names its line and field)."""

from __future__ import annotations

import argparse
import csv
import uuid
from pathlib import Path

from pydantic import ValidationError

from retention.errors import RetentionError
from retention.pipeline.erase import ErasureRequest

LIST_FIELDS = ("email", "phone", "crm_contact_id", "ticketing_user_id", "name")


def new_request_id() -> str:
    # No date in it: a run of digits would be masked as a phone number in logs.
    return f"req-{uuid.uuid4().hex[:12]}"


def requests_from_args(args: argparse.Namespace) -> list[ErasureRequest]:
    if args.file:
        if any(getattr(args, f) for f in LIST_FIELDS) or args.request_id:
            raise RetentionError("--file: give the requests in the file, or on the command line")
        return requests_from_csv(Path(args.file), args.kind, args.requested_by)
    return [
        _validated(
            "command line",
            {
                "request_id": args.request_id or new_request_id(),
                "kind": args.kind,
                "requested_by": args.requested_by,
                "override_restriction": args.override_restriction,
                **{f: getattr(args, f) for f in LIST_FIELDS},
            },
        )
    ]


def requests_from_csv(path: Path, kind: str, requested_by: str) -> list[ErasureRequest]:
    """One request per row; a cell may hold several values separated by `;`."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise RetentionError(f"--file: cannot read {path}: {exc.strerror}") from None
    requests = []
    for number, row in enumerate(rows, start=2):
        data: dict[str, object] = {"kind": kind, "requested_by": requested_by}
        for column, cell in row.items():
            if column is None:
                raise RetentionError(f"{path}: line {number}: more cells than header fields")
            text = (cell or "").strip()
            if column in LIST_FIELDS:
                data[column] = [v.strip() for v in text.split(";") if v.strip()]
            elif text:
                data[column] = text
        data.setdefault("request_id", new_request_id())
        requests.append(_validated(f"{path}: line {number}", data))
    if not requests:
        raise RetentionError(f"--file: {path} holds no requests")
    return requests


def _validated(where: str, data: dict[str, object]) -> ErasureRequest:
    try:
        return ErasureRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise RetentionError(f"{where}: {field}: {first['msg']}") from None
