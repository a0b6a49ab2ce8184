"""The JWT secret from Secrets Manager (``JWT_SECRET_ARN``), against moto's server.

Deployments keep the signing key in Secrets Manager; the container fetches it on first
use and keeps it, so a warm container signs and verifies without a network call.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import jwt
import pytest

from chatflow.container import build_container
from chatflow.errors import Unauthenticated
from chatflow.security.tokens import secret_from_secrets_manager
from chatflow.settings import load_settings
from local.services import MotoDynamoDB

REGION = "us-east-1"
SIGNING_KEY = "signing-key-from-secrets-manager-" + "0123456789abcdef"


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with MotoDynamoDB(tmp_path_factory.mktemp("moto"), None) as server:
        assert isinstance(server, MotoDynamoDB)
        yield server.endpoint


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, tmp_path: Path) -> str:
    """Dummy credentials and no shared config, so boto3 talks to moto and nothing else."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


def _create_secret(endpoint: str, value: str) -> str:
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
    arn: str = client.create_secret(
        Name=f"chatflow-jwt-{uuid.uuid4().hex[:8]}", SecretString=value
    )["ARN"]
    return arn


@pytest.fixture
def secret_arn(aws_env: str) -> Iterator[str]:
    secret_from_secrets_manager.cache_clear()
    yield _create_secret(aws_env, SIGNING_KEY)
    secret_from_secrets_manager.cache_clear()


@pytest.fixture
def arn_settings_env(
    monkeypatch: pytest.MonkeyPatch, clean_db: str, redis_url: str, secret_arn: str
) -> str:
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("BCRYPT_ROUNDS", "4")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.setenv("JWT_SECRET_ARN", secret_arn)
    return secret_arn


def test_tokens_are_signed_with_the_stored_secret_fetched_once(arn_settings_env: str) -> None:
    settings = load_settings()
    assert settings.jwt_secret is None
    container = build_container(settings)
    try:
        session = container.accounts.register("frank", "frank-password", None)
        claims = jwt.decode(
            session.token.token, SIGNING_KEY, algorithms=["HS256"], audience="chatflow-api"
        )
        assert claims["sub"] == str(session.user.id)

        verified = container.accounts.authenticate(session.token.token)
        assert verified.user_id == session.user.id
        again = container.accounts.login("frank", "frank-password")
        assert container.accounts.authenticate(again.token.token).user_id == session.user.id
    finally:
        container.db.close()
        container.cache.close()

    info = secret_from_secrets_manager.cache_info()
    assert info.misses == 1
    assert info.hits >= 3


def test_a_token_signed_with_another_key_is_refused(arn_settings_env: str) -> None:
    container = build_container(load_settings())
    try:
        session = container.accounts.register("gina", "gina-password", None)
        forged = jwt.encode(
            {**jwt.decode(session.token.token, options={"verify_signature": False})},
            "another-key-that-is-also-32-chars-long",
            algorithm="HS256",
        )
        with pytest.raises(Unauthenticated):
            container.accounts.authenticate(forged)
    finally:
        container.db.close()
        container.cache.close()


def test_a_short_stored_secret_is_refused(aws_env: str) -> None:
    secret_from_secrets_manager.cache_clear()
    arn = _create_secret(aws_env, "too-short")
    with pytest.raises(RuntimeError, match="shorter than 32 characters") as caught:
        secret_from_secrets_manager(arn, aws_env, REGION)
    assert "too-short" not in str(caught.value)
