"""Logins with the old password racing a password change, on real PostgreSQL and Valkey.

A login verifies the password (bcrypt, about 0.2 s at production cost) and only then issues
its token; a password change can land in between. Whatever the interleaving, no token
obtained with the old password may work after the change: not over REST, not at STOMP
CONNECT (the authorizer's bearer, or the CONNECT frame's), not on a frame of a connection
that was authorized with it.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest

import chatflow.domain.accounts as accounts_module
from chatflow.security.passwords import verify_or_waste
from chatflow.security.tokens import TokenService
from chatflow.ws.identity import Identity
from tests.helpers import api as api_helpers
from tests.helpers.events import (
    lambda_context,
    ws_authorizer_event,
    ws_authorizer_output,
    ws_connect_event,
)
from tests.integration.conftest import JWT_SECRET
from tests.integration.ws_world import World

OLD, NEW = "the old password", "the new password"


def _login(world: World, username: str, password: str) -> httpx.Response:
    body = {"username": username, "password": password}
    answer: httpx.Response = world.api.http.post("/api/auth/login", json=body)
    return answer


def _change_password(world: World, user: api_helpers.TestUser) -> str:
    changed = world.api.call(
        "PUT", "/api/users/me/password", user, {"currentPassword": OLD, "newPassword": NEW}
    )
    assert changed.status_code == 200, changed.text
    token: str = changed.json()["accessToken"]
    return token


def _connect_authorized_with(world: World, token: str) -> tuple[int, str]:
    """``$connect`` of a socket API Gateway authorized with ``token`` a moment before it
    was refused (the authorizer ran, then the revocation landed); its status and id."""
    settings = world.runtime.settings
    tokens = TokenService(lambda: JWT_SECRET, settings.jwt_issuer, settings.jwt_audience, 60, 60)
    identity = Identity.from_claims(tokens.verify_access(token))
    cid = uuid.uuid4().hex[:12] + "="
    request = ws_authorizer_event(cid, None, f"Bearer {token}")
    policy = {"principalId": str(identity.user_id), "context": identity.authorizer_context()}
    authorizer = ws_authorizer_output(policy)
    connect = world.gateway.modules["handlers.ws_connect"]
    status = connect.handler(ws_connect_event(request, authorizer), lambda_context())["statusCode"]
    return int(status), cid


def _assert_refused_everywhere(world: World, user: api_helpers.TestUser, token: str) -> None:
    stale = api_helpers.TestUser(user.id, user.username, token)
    me = world.api.call("GET", "/api/users/me", stale)
    assert me.status_code == 401 and me.json()["detail"] == "the token has been revoked"
    assert world.api.call("POST", "/api/auth/ws-ticket", stale).status_code == 401
    # STOMP CONNECT: the authorizer refuses the bearer on the upgrade ...
    assert world.gateway.connect(bearer=token) is None
    # ... and an anonymous socket that authenticates in the CONNECT frame is refused too.
    anonymous = world.gateway.connect()
    assert anonymous is not None
    anonymous.send("CONNECT", {"accept-version": "1.2", "Authorization": f"Bearer {token}"})
    [refused] = anonymous.receive()
    assert refused.command == "ERROR"
    assert refused.header("message") == "authentication failed: the token has been revoked"
    assert anonymous.closed
    # A socket authorized with the token before the change is refused by $connect, which
    # checks the token again once the socket is recorded.
    status, cid = _connect_authorized_with(world, token)
    assert status == 401
    assert world.runtime.table.get_connection(cid) is None


def test_logins_paused_between_the_hash_check_and_the_token_lose_to_the_change(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each login has verified the old password before the change starts, and issues its
    token only after the change returned, in a later second (a slow container): the
    interleaving a cut-off by issue time cannot catch."""
    alice = world.api.user(password=OLD)
    logins = 6
    verified = threading.Barrier(logins + 1)
    resume = threading.Event()
    pausing = threading.Event()
    pausing.set()
    real_verify = verify_or_waste

    def verify_then_pause(password: str, stored: Any, rounds: int) -> bool:
        matched = real_verify(password, stored, rounds)
        if pausing.is_set():
            verified.wait(timeout=30)
            assert resume.wait(timeout=30)
        return matched

    monkeypatch.setattr(accounts_module, "verify_or_waste", verify_then_pause)
    answers: list[httpx.Response] = []

    def login() -> None:
        answers.append(_login(world, alice.username, OLD))

    threads = [threading.Thread(target=login) for _ in range(logins)]
    for thread in threads:
        thread.start()
    verified.wait(timeout=30)  # every login has checked the old hash; none has a token
    pausing.clear()
    fresh = _change_password(world, alice)
    changed_in = int(time.time())
    while int(time.time()) <= changed_in:  # the logins go on in the next second
        time.sleep(0.02)
    resume.set()
    for thread in threads:
        thread.join(timeout=30)

    assert [a.status_code for a in answers] == [200] * logins
    for answer in answers:
        _assert_refused_everywhere(world, alice, answer.json()["accessToken"])
    # The token the change returned, and logins with the new password, keep working.
    current = api_helpers.TestUser(alice.id, alice.username, fresh)
    assert world.api.call("GET", "/api/users/me", current).status_code == 200
    again = _login(world, alice.username, NEW)
    assert again.status_code == 200
    renewed = api_helpers.TestUser(alice.id, alice.username, again.json()["accessToken"])
    assert world.api.call("GET", "/api/users/me", renewed).status_code == 200
    assert world.gateway.connect(bearer=renewed.token) is not None


def test_logins_racing_a_change_in_threads_leave_no_old_password_token(world: World) -> None:
    """Free interleaving: logins with the old password start together with the change;
    each either fails (it read the new hash) or gets a token that is refused afterwards."""
    alice = world.api.user(password=OLD)
    logins = 12
    start = threading.Barrier(logins + 1)
    answers: list[httpx.Response] = []
    fresh: list[str] = []

    def login() -> None:
        start.wait(timeout=30)
        answers.append(_login(world, alice.username, OLD))

    def change() -> None:
        start.wait(timeout=30)
        fresh.append(_change_password(world, alice))

    threads = [threading.Thread(target=login) for _ in range(logins)]
    threads.append(threading.Thread(target=change))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == logins and len(fresh) == 1
    assert {a.status_code for a in answers} <= {200, 401}
    for answer in answers:
        if answer.status_code == 200:
            _assert_refused_everywhere(world, alice, answer.json()["accessToken"])
    current = api_helpers.TestUser(alice.id, alice.username, fresh[0])
    assert world.api.call("GET", "/api/users/me", current).status_code == 200
