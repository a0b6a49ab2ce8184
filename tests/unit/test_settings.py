"""Settings: a bad environment fails at init with a message that names each bad variable."""

from __future__ import annotations

import pytest

from chatflow.settings import Settings, SettingsError, load_settings

SECRET = "settings-test-secret-that-is-long-enough-0123"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A valid minimal environment, with nothing inherited from the machine running tests."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://chatflow@127.0.0.1:5432/chatflow")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("JWT_SECRET", SECRET)
    return monkeypatch


def _error(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> str:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    return str(caught.value)


def test_a_valid_environment_loads_with_defaults() -> None:
    settings = load_settings()
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings)
    assert (settings.jwt_ttl_seconds, settings.ws_ticket_ttl_seconds) == (86400, 60)
    assert (settings.bcrypt_rounds, settings.max_message_chars) == (12, 4000)


def test_missing_database_url_is_named(environment: pytest.MonkeyPatch) -> None:
    message = _error(environment, DATABASE_URL=None)
    assert "DATABASE_URL" in message


def test_non_numeric_bcrypt_rounds_is_named(environment: pytest.MonkeyPatch) -> None:
    message = _error(environment, BCRYPT_ROUNDS="abc")
    assert "BCRYPT_ROUNDS" in message


def test_every_bad_variable_is_named_at_once(environment: pytest.MonkeyPatch) -> None:
    message = _error(environment, DATABASE_URL=None, BCRYPT_ROUNDS="abc", LOG_LEVEL="LOUD")
    for name in ("DATABASE_URL", "BCRYPT_ROUNDS", "LOG_LEVEL"):
        assert name in message


def test_short_jwt_secret_is_named_and_not_echoed(environment: pytest.MonkeyPatch) -> None:
    message = _error(environment, JWT_SECRET="short-secret-value")
    assert "JWT_SECRET" in message
    assert "32" in message
    assert "short-secret-value" not in message


def test_both_secret_sources_are_refused(environment: pytest.MonkeyPatch) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:chatflow-jwt-AbCdEf"
    message = _error(environment, JWT_SECRET_ARN=arn)
    assert "JWT_SECRET" in message
    assert "JWT_SECRET_ARN" in message
    assert SECRET not in message


def test_no_secret_source_is_refused(environment: pytest.MonkeyPatch) -> None:
    message = _error(environment, JWT_SECRET=None)
    assert "JWT_SECRET or JWT_SECRET_ARN" in message


def test_a_secret_arn_alone_is_enough(environment: pytest.MonkeyPatch) -> None:
    environment.delenv("JWT_SECRET")
    environment.setenv("JWT_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x")
    settings = load_settings()
    assert settings.jwt_secret is None
    assert settings.jwt_secret_arn.endswith(":secret:x")


def test_the_write_throttles_have_defaults_and_refuse_zero(
    environment: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert (settings.rate_password_burst, settings.rate_password_per_minute) == (5, 1)
    assert (settings.rate_ticket_burst, settings.rate_ticket_per_minute) == (20, 20)
    message = _error(environment, RATE_EDIT_BURST="0", RATE_TICKET_PER_MINUTE="many")
    assert "RATE_EDIT_BURST" in message and "RATE_TICKET_PER_MINUTE" in message
