"""Revocation look-ups on a real Valkey: logout, a password change's credential version,
the cut-off values written before versions existed, and the sweeper's bulk check."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import redis

from chatflow.cache.revocations import (
    CREDENTIAL_VERSION_MARGIN_SECONDS,
    RevocationStore,
    TokenRef,
    password_change_key,
)


def _stored(client: redis.Redis, user: str) -> str:
    value = client.get(password_change_key(user))
    assert isinstance(value, bytes)
    return value.decode()


def test_a_password_change_refuses_every_older_credential_version(
    clean_redis: redis.Redis,
) -> None:
    store = RevocationStore(clean_redis)
    user, now = str(uuid.uuid4()), int(time.time())
    store.revoke_older_credentials(user, 2, token_ttl=600)
    assert store.is_revoked("legacy", user, now, credential_version=0) is True
    assert store.is_revoked("older", user, now + 5, credential_version=1) is True
    assert store.is_revoked("fresh", user, now - 5, credential_version=2) is False
    assert store.is_revoked("other-user", str(uuid.uuid4()), now, credential_version=0) is False
    ttl = clean_redis.ttl(password_change_key(user))
    assert 600 < ttl <= 600 + CREDENTIAL_VERSION_MARGIN_SECONDS


def test_a_version_published_late_never_lowers_the_stored_one(clean_redis: redis.Redis) -> None:
    """Two password changes finish out of order: the newer version stays in force."""
    store = RevocationStore(clean_redis)
    user = str(uuid.uuid4())
    store.revoke_older_credentials(user, 3, token_ttl=600)
    store.revoke_older_credentials(user, 2, token_ttl=600)
    assert _stored(clean_redis, user).endswith(":v3")
    assert store.is_revoked("second-change", user, 0, credential_version=2) is True


def test_a_version_replaces_a_cut_off_written_before_versions(clean_redis: redis.Redis) -> None:
    user, now = str(uuid.uuid4()), int(time.time())
    clean_redis.set(password_change_key(user), f"{now}:kept".encode(), ex=600)
    store = RevocationStore(clean_redis)
    store.revoke_older_credentials(user, 1, token_ttl=600)
    assert _stored(clean_redis, user).endswith(":v1")
    assert store.is_revoked("kept", user, now, credential_version=0) is True


def test_cut_offs_written_before_versions_still_work(clean_redis: redis.Redis) -> None:
    """Keys of the previous format (``<epoch s>[:<kept jti>]``) live one token lifetime
    after the deploy, and keep refusing what they refused."""
    store = RevocationStore(clean_redis)
    user, now = str(uuid.uuid4()), int(time.time())
    clean_redis.set(password_change_key(user), f"{now}:fresh".encode(), ex=600)
    assert store.is_revoked("older", user, now - 1) is True
    assert store.is_revoked("same-second", user, now) is True
    assert store.is_revoked("fresh", user, now) is False
    assert store.is_revoked("later", user, now + 1) is False
    clean_redis.set(password_change_key(user), str(now).encode(), ex=600)
    assert store.is_revoked("older", user, now - 1) is True
    assert store.is_revoked("same-second", user, now) is False


def test_code_of_the_previous_release_reads_a_version_as_a_cut_off_by_time(
    clean_redis: redis.Redis,
) -> None:
    """During a deploy, functions of the previous release read the new value: their parser
    (``<epoch s>`` before the first ``:``) takes it for the change's second, refusing every
    older token, instead of raising."""
    user, before = str(uuid.uuid4()), int(time.time())
    RevocationStore(clean_redis).revoke_older_credentials(user, 4, token_ttl=600)
    cutoff, _, kept = _stored(clean_redis, user).partition(":")
    assert before <= int(cutoff) <= int(time.time()) and kept == "v4"


def test_logout_revokes_one_token(clean_redis: redis.Redis) -> None:
    store = RevocationStore(clean_redis)
    user, now = str(uuid.uuid4()), int(time.time())
    store.revoke("gone", now + 600)
    assert store.is_revoked("gone", user, now) is True
    assert store.is_revoked("kept", user, now) is False


def test_the_bulk_check_answers_for_every_token_in_one_round_trip(
    clean_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RevocationStore(clean_redis)
    alice, bob, now = str(uuid.uuid4()), str(uuid.uuid4()), int(time.time())
    store.revoke("logged-out", now + 600)
    store.revoke_older_credentials(bob, 1, token_ttl=600)
    tokens = [
        TokenRef("logged-out", alice, now, 0),
        TokenRef("live", alice, now, 0),
        TokenRef("old-password", bob, now, 0),
        TokenRef("new-password", bob, now, 1),
        TokenRef("old-password-2", bob, now, 0),
        TokenRef("version-not-recorded", bob, now, None),  # judged by its jti only
    ]
    executed: list[int] = []
    real_pipeline = clean_redis.pipeline

    def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute

        def execute(*a: Any, **k: Any) -> Any:
            executed.append(len(pipe.command_stack))
            return real_execute(*a, **k)

        monkeypatch.setattr(pipe, "execute", execute)
        return pipe

    monkeypatch.setattr(clean_redis, "pipeline", counting_pipeline)
    assert store.revoked_among(tokens) == [True, False, True, False, True, False]
    assert executed == [8]  # one round trip: 6 jtis, and 2 users (each asked once)
    assert store.revoked_among([]) == []
    assert executed == [8]  # nothing to ask, nothing sent
