"""Build the S3 client a connector uses, and count the HTTP requests it sends.

Endpoint, region and credentials: the given endpoint URL and session, the
system's region, else boto3's standard chain. Retries (throttling, 5xx,
connection errors) are botocore's, in the policy's retry mode.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from retention.policy import System


@dataclass
class RequestCounter:
    """Counts every HTTP request (retries included) by S3 operation, through
    botocore's before-send event, so a budget can be measured, not estimated."""

    by_operation: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    def reset(self) -> None:
        self.by_operation.clear()

    def __call__(self, event_name: str = "", **_: Any) -> None:
        self.by_operation[event_name.rsplit(".", 1)[-1]] += 1


def retry_config(system: System) -> Config:
    return Config(
        region_name=system.region,
        retries={"mode": system.retry_mode, "max_attempts": system.max_attempts},
    )


def build_s3_client(
    system: System, *, endpoint_url: str | None, session: boto3.Session | None
) -> tuple[Any, RequestCounter]:
    session = session or boto3.Session()
    client = session.client("s3", endpoint_url=endpoint_url or None, config=retry_config(system))
    counter = RequestCounter()
    client.meta.events.register("before-send.s3", counter)
    return client, counter
