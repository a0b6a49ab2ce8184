"""A thin REST helper for tests: register users, create rooms, with auth headers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response


@dataclass
class TestUser:
    id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class ApiClient:
    __test__ = False

    def __init__(self, client: TestClient) -> None:
        self.http = client

    def user(
        self,
        name: str | None = None,
        password: str = "correct horse battery",
        display_name: str | None = None,
    ) -> TestUser:
        username = name or f"u{uuid.uuid4().hex[:10]}"
        body = {"username": username, "password": password}
        if display_name is not None:
            body["displayName"] = display_name
        response = self.http.post("/api/auth/register", json=body)
        assert response.status_code == 201, response.text
        body = response.json()
        return TestUser(body["user"]["id"], username, body["accessToken"])

    def room(self, owner: TestUser, visibility: str = "public", name: str = "general") -> str:
        response = self.http.post(
            "/api/rooms", json={"name": name, "visibility": visibility}, headers=owner.headers
        )
        assert response.status_code == 201, response.text
        room_id: str = response.json()["id"]
        return room_id

    def call(
        self, method: str, path: str, user: TestUser | None = None, json: Any = None
    ) -> Response:
        headers = user.headers if user else {}
        response: Response = self.http.request(method, path, headers=headers, json=json)
        return response

    def post_message(
        self, user: TestUser, room_id: str, body: str = "hi", **extra: Any
    ) -> Response:
        return self.call("POST", f"/api/rooms/{room_id}/messages", user, {"body": body, **extra})

    def my_rooms(self, user: TestUser, limit: int | None = None) -> list[dict[str, Any]]:
        """Every room of ``user``'s: ``GET /api/rooms`` followed page by page to the end."""
        rooms: list[dict[str, Any]] = []
        params: dict[str, str | int] = {} if limit is None else {"limit": limit}
        while True:
            response = self.http.get("/api/rooms", params=params, headers=user.headers)
            assert response.status_code == 200, response.text
            page = response.json()
            rooms += page["items"]
            if page["nextAfter"] is None:
                return rooms
            params = {**params, "after": page["nextAfter"]}
