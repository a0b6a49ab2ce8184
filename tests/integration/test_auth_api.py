"""Accounts over REST against real PostgreSQL and Valkey."""

from __future__ import annotations

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.helpers.api import ApiClient
from tests.integration.conftest import JWT_SECRET


def test_register_returns_user_and_token(client: TestClient) -> None:
    response = client.post(
        "/api/auth/register",
        json={"username": "alice", "password": "s3cret-password", "displayName": "Alice A."},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["username"] == "alice"
    assert body["user"]["displayName"] == "Alice A."
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 86400
    claims = jwt.decode(
        body["accessToken"], JWT_SECRET, algorithms=["HS256"], audience="chatflow-api"
    )
    assert claims["sub"] == body["user"]["id"]
    assert {"jti", "iat", "exp", "iss"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == 86400


def test_username_is_unique_case_insensitively(api: ApiClient) -> None:
    api.user("Bob")
    response = api.http.post(
        "/api/auth/register", json={"username": "bob", "password": "another-password"}
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "taken" in response.json()["detail"]


def test_login_and_me(api: ApiClient) -> None:
    user = api.user("carol", password="carol-password")
    response = api.http.post(
        "/api/auth/login", json={"username": "CAROL", "password": "carol-password"}
    )
    assert response.status_code == 200
    token = response.json()["accessToken"]
    me = api.http.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {"id": user.id, "username": "carol", "displayName": "carol"}


def test_wrong_password_and_unknown_user_get_the_same_answer(api: ApiClient) -> None:
    api.user("dave", password="dave-password")
    wrong = api.http.post("/api/auth/login", json={"username": "dave", "password": "nope-nope"})
    unknown = api.http.post("/api/auth/login", json={"username": "zed", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_logout_revokes_the_token(api: ApiClient) -> None:
    user = api.user()
    assert api.call("GET", "/api/users/me", user).status_code == 200
    assert api.call("POST", "/api/auth/logout", user).status_code == 204
    after = api.call("GET", "/api/users/me", user)
    assert after.status_code == 401
    assert after.json()["detail"] == "the token has been revoked"


def test_change_password_ends_old_sessions(api: ApiClient) -> None:
    user = api.user("erin", password="old-password")
    other_session = api.http.post(
        "/api/auth/login", json={"username": "erin", "password": "old-password"}
    ).json()["accessToken"]
    # Tokens are compared by whole seconds: wait for the clock to move on.
    import time

    time.sleep(1.05)
    response = api.call(
        "PUT",
        "/api/users/me/password",
        user,
        {"currentPassword": "old-password", "newPassword": "new-password"},
    )
    assert response.status_code == 200, response.text
    fresh = response.json()["accessToken"]
    assert (
        api.http.get(
            "/api/users/me", headers={"Authorization": f"Bearer {other_session}"}
        ).status_code
        == 401
    )
    assert (
        api.http.get("/api/users/me", headers={"Authorization": f"Bearer {fresh}"}).status_code
        == 200
    )
    old_login = api.http.post(
        "/api/auth/login", json={"username": "erin", "password": "old-password"}
    )
    assert old_login.status_code == 401
    new_login = api.http.post(
        "/api/auth/login", json={"username": "erin", "password": "new-password"}
    )
    assert new_login.status_code == 200


def test_ws_ticket_is_short_and_not_an_access_token(api: ApiClient) -> None:
    user = api.user()
    response = api.call("POST", "/api/auth/ws-ticket", user)
    assert response.status_code == 200
    body = response.json()
    assert 0 < body["expiresIn"] <= 60
    as_bearer = api.http.get("/api/users/me", headers={"Authorization": f"Bearer {body['ticket']}"})
    assert as_bearer.status_code == 401


def test_unknown_users_cost_one_bcrypt_check_like_known_ones(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bcrypt

    api.user("frank", password="frank-password")
    calls: list[int] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(1)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    api.http.post("/api/auth/login", json={"username": "frank", "password": "wrong-password"})
    known = len(calls)
    api.http.post("/api/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert known == 1
    assert len(calls) - known == 1
