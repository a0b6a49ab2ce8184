"""Demo data for the running local stack, created through its REST API as a client would.

Going through the API (not the database) keeps the demo honest: the rooms, members and
messages are exactly what the product would have made. Running it twice changes nothing:
users log in when they exist, rooms are found by name before they are created.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

DEMO_PASSWORD = "chatflow-demo"
USERS = (("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol"))
# (name, topic, visibility, owner, other members)
ROOMS = (
    ("general", "Everything and nothing", "public", "alice", ("bob", "carol")),
    ("random", "Off topic", "public", "bob", ("alice",)),
    ("project-x", "Private planning", "private", "alice", ("bob",)),
)
WELCOME = {"general": "Welcome to ChatFlow! Try opening a second browser as bob."}


class SeedError(RuntimeError):
    pass


@dataclass
class _Api:
    base: str

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw) if raw else None
            except ValueError:
                return exc.code, raw.decode(errors="replace")


def seed(http_base: str) -> list[str]:
    """Create the demo users and rooms; the lines to print."""
    api = _Api(http_base.rstrip("/") + "/api")
    tokens: dict[str, str] = {}
    report = []
    for username, display in USERS:
        credentials = {"username": username, "password": DEMO_PASSWORD}
        status, body = api.call("POST", "/auth/register", {**credentials, "displayName": display})
        if status == 409:
            status, body = api.call("POST", "/auth/login", credentials)
        if status not in (200, 201):
            raise SeedError(f"could not sign {username} in: {status} {body}")
        tokens[username] = body["accessToken"]
        report.append(f"user {username} / {DEMO_PASSWORD}")
    for name, topic, visibility, owner, members in ROOMS:
        status, mine = api.call("GET", "/rooms", token=tokens[owner])
        rooms = mine if isinstance(mine, list) else (mine or {}).get("items", [])
        room = next((r for r in rooms if r.get("name") == name), None)
        if room is None:
            room_body = {"name": name, "topic": topic, "visibility": visibility}
            status, room = api.call("POST", "/rooms", room_body, tokens[owner])
            if status != 201:
                raise SeedError(f"could not create room {name}: {status} {room}")
            for member in members:
                api.call(
                    "POST", f"/rooms/{room['id']}/members", {"username": member}, tokens[owner]
                )
            if name in WELCOME:
                message = {"body": WELCOME[name]}
                api.call("POST", f"/rooms/{room['id']}/messages", message, tokens[owner])
        report.append(f"room {name} ({visibility}) owned by {owner}")
    return report
