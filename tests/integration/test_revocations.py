"""Revocation look-ups on a real Valkey: logout, and the cut-off of a password change."""

from __future__ import annotations

import time
import uuid

import redis

from chatflow.cache.revocations import RevocationStore


def test_a_password_change_cuts_off_tokens_of_its_own_second_but_the_one_it_returns(
    clean_redis: redis.Redis,
) -> None:
    store = RevocationStore(clean_redis)
    user, now = str(uuid.uuid4()), int(time.time())
    store.revoke_user_tokens_before(user, now, ttl=600, keep_jti="fresh")
    assert store.is_revoked("older", user, now - 1) is True
    assert store.is_revoked("same-second", user, now) is True
    assert store.is_revoked("fresh", user, now) is False
    assert store.is_revoked("later", user, now + 1) is False
    assert store.is_revoked("other-user", str(uuid.uuid4()), now - 1) is False


def test_a_cut_off_stored_without_a_kept_token_still_works(clean_redis: redis.Redis) -> None:
    """Values written before the kept token was recorded are a bare epoch second."""
    user, now = str(uuid.uuid4()), int(time.time())
    clean_redis.set(f"pwchanged:{{{user}}}", str(now).encode(), ex=600)
    store = RevocationStore(clean_redis)
    assert store.is_revoked("older", user, now - 1) is True
    assert store.is_revoked("same-second", user, now) is False
    assert store.is_revoked("later", user, now + 1) is False


def test_logout_revokes_one_token(clean_redis: redis.Redis) -> None:
    store = RevocationStore(clean_redis)
    user, now = str(uuid.uuid4()), int(time.time())
    store.revoke("gone", now + 600)
    assert store.is_revoked("gone", user, now) is True
    assert store.is_revoked("kept", user, now) is False
