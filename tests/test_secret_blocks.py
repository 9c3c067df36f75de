"""Connection secrets from Prefect Secret blocks, as a deployment keeps them."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from retention.policy import SecretRef
from tasks.secrets import resolve_secret

pytestmark = pytest.mark.prefect


def test_a_secret_block_resolves_and_a_missing_one_is_reported(prefect_harness, monkeypatch):
    from prefect.blocks.system import Secret

    Secret(value=SecretStr("postgresql+psycopg://crm@db/crm")).save("crm-url-test", overwrite=True)
    assert resolve_secret(SecretRef(block="crm-url-test")) == "postgresql+psycopg://crm@db/crm"
    assert resolve_secret(SecretRef(block="no-such-block")) is None
    monkeypatch.setenv("SOME_URL", "sqlite:///x.db")
    assert resolve_secret(SecretRef(env="SOME_URL")) == "sqlite:///x.db"


def test_an_aws_credentials_block_gives_the_s3_session(prefect_harness, make_bucket, s3_endpoint):
    from prefect_aws import AwsCredentials

    from retention.errors import ConnectionFailed
    from retention.policy import System
    from tasks.setup import aws_session

    bucket = make_bucket()
    AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key=SecretStr("testing"),
        region_name="eu-north-1",
    ).save("media-aws-test", overwrite=True)
    system = System.model_validate(
        {
            "kind": "s3",
            "bucket": bucket,
            "credentials_block": "media-aws-test",
            "datasets": {"photos": {"prefix": "photos/", "primary_key": "key"}},
        }
    )
    session = aws_session("media", system)
    assert session.region_name == "eu-north-1"
    client = session.client("s3", endpoint_url=s3_endpoint)
    assert bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]

    missing = system.model_copy(update={"credentials_block": "no-such-block"})
    with pytest.raises(ConnectionFailed, match="no-such-block"):
        aws_session("media", missing)
