"""Connection secrets from Prefect Secret blocks, as a deployment keeps them."""

from __future__ import annotations

import pytest

from retention.policy import SecretRef
from tasks.secrets import resolve_secret

pytestmark = pytest.mark.prefect


def test_a_secret_block_resolves_and_a_missing_one_is_reported(prefect_harness, monkeypatch):
    from prefect.blocks.system import Secret

    Secret(value="postgresql+psycopg://crm@db/crm").save("crm-url-test", overwrite=True)
    assert resolve_secret(SecretRef(block="crm-url-test")) == "postgresql+psycopg://crm@db/crm"
    assert resolve_secret(SecretRef(block="no-such-block")) is None
    monkeypatch.setenv("SOME_URL", "sqlite:///x.db")
    assert resolve_secret(SecretRef(env="SOME_URL")) == "sqlite:///x.db"
