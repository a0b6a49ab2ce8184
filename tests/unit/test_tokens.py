"""The credential version claim (``cv``) of access tokens and tickets."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from chatflow.errors import Unauthenticated
from chatflow.security.tokens import ALGORITHM, TokenService

SECRET = "unit-test-secret-long-enough-for-hs256-0123456789"


def _service() -> TokenService:
    return TokenService(lambda: SECRET, "chatflow", "chatflow-api", 3600, 60)


def _signed(**claims: object) -> str:
    now = int(time.time())
    payload = {
        "sub": str(uuid.uuid4()),
        "name": "alice",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
        "iss": "chatflow",
        "aud": "chatflow-api",
        **claims,
    }
    return jwt.encode(payload, SECRET, algorithm=ALGORITHM)


def test_the_version_is_stamped_into_the_token_and_inherited_by_its_tickets() -> None:
    tokens = _service()
    issued = tokens.issue_access(uuid.uuid4(), "alice", "Alice", credential_version=7)
    access = tokens.verify_access(issued.token)
    assert access.credential_version == 7
    ticket = tokens.verify_ticket(tokens.issue_ticket(access).token)
    assert (ticket.credential_version, ticket.session_jti) == (7, access.jti)


def test_a_token_issued_before_the_claim_existed_is_version_0() -> None:
    assert _service().verify_access(_signed()).credential_version == 0


@pytest.mark.parametrize("version", ["3", -1, 1.5, True, None, [1]])
def test_a_version_that_is_not_a_non_negative_integer_is_an_invalid_token(
    version: object,
) -> None:
    with pytest.raises(Unauthenticated, match="the token is invalid"):
        _service().verify_access(_signed(cv=version))
