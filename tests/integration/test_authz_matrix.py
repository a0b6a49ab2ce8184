"""Who may call what: the authorization matrix of every room-scoped endpoint, as one table.

Each row is one actor calling one endpoint of a public or a private room, in a world of
its own (destructive rows such as DELETE cannot leak into other rows). The rules, from
docs/architecture.md ("Who may do what") and ``chatflow.domain.access``:

- no token or a bad token: 401 everywhere;
- a private room is invisible to non-members: 404 for everything, the same answer as for
  a room that does not exist, so room ids leak nothing;
- a public room's non-member may read the room and join it, nothing else (403);
- members read and post; admins also manage members; owners also delete the room, make
  admins and change roles. Nobody edits another person's message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from chatflow.container import Container
from tests.helpers.api import ApiClient, TestUser

ACTORS = ("anonymous", "bad-token", "outsider", "member", "admin", "owner")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    body: dict[str, Any] | None = None


ENDPOINTS = {
    "get room": Endpoint("GET", "/api/rooms/{room}"),
    "patch room": Endpoint("PATCH", "/api/rooms/{room}", {"topic": "new topic"}),
    "delete room": Endpoint("DELETE", "/api/rooms/{room}"),
    "join": Endpoint("POST", "/api/rooms/{room}/join"),
    "leave": Endpoint("POST", "/api/rooms/{room}/leave"),
    "list members": Endpoint("GET", "/api/rooms/{room}/members"),
    "add member": Endpoint("POST", "/api/rooms/{room}/members", {"username": "{newcomer}"}),
    "add admin": Endpoint(
        "POST", "/api/rooms/{room}/members", {"username": "{newcomer}", "role": "admin"}
    ),
    "change role": Endpoint("PATCH", "/api/rooms/{room}/members/{other}", {"role": "admin"}),
    "remove member": Endpoint("DELETE", "/api/rooms/{room}/members/{other}"),
    "history": Endpoint("GET", "/api/rooms/{room}/messages?limit=10"),
    "post message": Endpoint("POST", "/api/rooms/{room}/messages", {"body": "hello"}),
    "edit member's message": Endpoint(
        "PATCH", "/api/rooms/{room}/messages/{member_seq}", {"body": "edited"}
    ),
    "delete member's message": Endpoint("DELETE", "/api/rooms/{room}/messages/{member_seq}"),
    "delete owner's message": Endpoint("DELETE", "/api/rooms/{room}/messages/{owner_seq}"),
    "mark read": Endpoint("PUT", "/api/rooms/{room}/read", {"seq": 1}),
    "presence": Endpoint("GET", "/api/rooms/{room}/presence"),
}

# Expected status per actor. Anonymous and bad-token callers get 401 on every row.
#                              outsider of
#                              public private  member admin owner
MATRIX: dict[str, tuple[int, int, int, int, int]] = {
    "get room":                (200, 404,     200,   200,  200),
    "patch room":              (403, 404,     403,   200,  200),
    "delete room":             (403, 404,     403,   403,  204),
    "join":                    (200, 404,     200,   200,  200),
    "leave":                   (403, 404,     204,   204,  409),
    "list members":            (403, 404,     200,   200,  200),
    "add member":              (403, 404,     403,   201,  201),
    "add admin":               (403, 404,     403,   403,  201),
    "change role":             (403, 404,     403,   403,  200),
    "remove member":           (403, 404,     403,   204,  204),
    "history":                 (403, 404,     200,   200,  200),
    "post message":            (403, 404,     201,   201,  201),
    "edit member's message":   (403, 404,     200,   403,  403),
    "delete member's message": (403, 404,     204,   204,  204),
    "delete owner's message":  (403, 404,     403,   204,  204),
    "mark read":               (403, 404,     200,   200,  200),
    "presence":                (403, 404,     200,   200,  200),
}  # fmt: skip


def _expected(endpoint: str, visibility: str, actor: str) -> int:
    if actor in ("anonymous", "bad-token"):
        return 401
    public_out, private_out, member, admin, owner = MATRIX[endpoint]
    return {
        "outsider": public_out if visibility == "public" else private_out,
        "member": member,
        "admin": admin,
        "owner": owner,
    }[actor]


ROWS = [
    pytest.param(visibility, actor, name, _expected(name, visibility, actor),
                 id=f"{visibility}-{actor}-{name.replace(' ', '_')}")
    for visibility in ("public", "private")
    for actor in ACTORS
    for name in ENDPOINTS
]  # fmt: skip


@dataclass
class World:
    """One room with an owner, an admin, two members, a user to add and an outsider."""

    room_id: str
    users: dict[str, TestUser]
    owner_seq: int
    member_seq: int

    def fill(self, text: str, room_id: str | None = None) -> str:
        return text.format(
            room=room_id or self.room_id,
            newcomer=self.users["newcomer"].username,
            other=self.users["other"].id,
            owner_seq=self.owner_seq,
            member_seq=self.member_seq,
        )


def _build_world(services: Container, visibility: str) -> World:
    """Set the stage through the domain services: the rows test the HTTP edge, not this."""
    sessions = {
        name: services.accounts.register(f"{name}-{uuid.uuid4().hex[:8]}", "password-123", None)
        for name in ("owner", "admin", "member", "other", "newcomer", "outsider")
    }
    people = {name: session.user for name, session in sessions.items()}
    owner = people["owner"]
    room = services.rooms.create(owner, "matrix", None, visibility)
    for name, role in (("admin", "admin"), ("member", "member"), ("other", "member")):
        services.rooms.add_member(owner, room.id, people[name], role)
    owner_seq = services.messages.post(owner, room.id, "from the owner", None).message.seq
    member_seq = services.messages.post(people["member"], room.id, "a member's", None).message.seq
    users = {
        name: TestUser(str(s.user.id), s.user.username, s.token.token)
        for name, s in sessions.items()
    }
    return World(str(room.id), users, owner_seq, member_seq)


def _headers(world: World, actor: str) -> dict[str, str]:
    if actor == "anonymous":
        return {}
    if actor == "bad-token":
        claims = jwt.decode(
            world.users["owner"].token, options={"verify_signature": False}
        )  # the owner's own claims, signed with the wrong key
        forged = jwt.encode(claims, "not-the-secret-" * 4, algorithm="HS256")
        return {"Authorization": f"Bearer {forged}"}
    return world.users[actor].headers


def _call(api: ApiClient, world: World, actor: str, endpoint: Endpoint, room: str | None) -> Any:
    body = None
    if endpoint.body is not None:
        body = {
            k: world.fill(v, room) if isinstance(v, str) else v for k, v in endpoint.body.items()
        }
    return api.http.request(
        endpoint.method,
        world.fill(endpoint.path, room),
        headers=_headers(world, actor),
        json=body,
    )


@pytest.mark.parametrize(("visibility", "actor", "endpoint", "expected"), ROWS)
def test_authorization_matrix(
    api: ApiClient, container: Container, visibility: str, actor: str, endpoint: str, expected: int
) -> None:
    world = _build_world(container, visibility)
    response = _call(api, world, actor, ENDPOINTS[endpoint], None)

    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == expected
        assert {"type", "title", "detail"} <= problem.keys()
    if expected == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    if expected == 404:
        # A hidden room answers exactly as a room that does not exist.
        ghost = _call(api, world, actor, ENDPOINTS[endpoint], str(uuid.uuid4()))
        assert (ghost.status_code, ghost.json()) == (404, response.json())
