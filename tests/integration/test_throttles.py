"""The write throttles over REST, on real PostgreSQL and Valkey: 429 with Retry-After.

Each test builds the API with one limit made tiny (the others stay raised, as in every
other integration test) and counts answers; nothing measures time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from chatflow.api.app import create_app
from chatflow.container import build_container
from chatflow.settings import Settings
from tests.helpers.api import ApiClient, TestUser

pytestmark = pytest.mark.integration

PASSWORD = "the real password"
ATTACKER = ("203.0.113.7", 40000)
OTHER_ADDRESS = ("198.51.100.9", 40000)


@contextmanager
def _api(settings: Settings, **limits: int) -> Iterator[Callable[[tuple[str, int]], TestClient]]:
    """The API with ``limits`` applied; the fixture opens a client per client address."""
    built = build_container(settings.model_copy(update=limits))
    app = create_app(lambda: built)
    opened: list[TestClient] = []

    def client(address: tuple[str, int]) -> TestClient:
        test_client = TestClient(app, client=address, raise_server_exceptions=False)
        opened.append(test_client.__enter__())
        return test_client

    try:
        yield client
    finally:
        for test_client in opened:
            test_client.__exit__(None, None, None)
        built.db.close()
        built.cache.close()


def _assert_rate_limited(response: Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["type"].endswith("/rate-limited")


def _change(client: TestClient, user: TestUser, current: str, new: str) -> Response:
    response: Response = client.put(
        "/api/users/me/password",
        json={"currentPassword": current, "newPassword": new},
        headers=user.headers,
    )
    return response


# -- the password oracle -------------------------------------------------------------------


def test_password_guesses_are_throttled_per_user_and_per_address(settings: Settings) -> None:
    """Before: 25 wrong ``currentPassword`` tries in a row were all answered 422."""
    with _api(settings, rate_password_burst=5, rate_password_per_minute=1) as client:
        attacker, elsewhere = client(ATTACKER), client(OTHER_ADDRESS)
        api = ApiClient(elsewhere)
        victim, bystander, third = (api.user(password=PASSWORD) for _ in range(3))

        statuses = [_change(attacker, victim, f"guess {n}", "new password 1").status_code
                    for n in range(8)]  # fmt: skip
        assert statuses == [422] * 5 + [429] * 3
        _assert_rate_limited(_change(attacker, victim, PASSWORD, "new password 1"))
        # per user: the victim's bucket is empty from any address
        _assert_rate_limited(_change(elsewhere, victim, PASSWORD, "new password 1"))
        # per address: the attacker's address is empty for another stolen token too
        _assert_rate_limited(_change(attacker, bystander, PASSWORD, "new password 1"))
        # a third user from another address is not affected
        assert _change(elsewhere, third, PASSWORD, "new password 1").status_code == 200

        # nothing changed: the victim still logs in with the real password
        login = elsewhere.post(
            "/api/auth/login", json={"username": victim.username, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text


def test_password_guesses_sent_at_once_get_no_more_answers_than_the_burst(
    settings: Settings,
) -> None:
    """The check comes before the verification, so tries in flight together cannot all
    pass it before the first is charged."""
    with _api(settings, rate_password_burst=5, rate_password_per_minute=1) as client:
        attackers = [client(ATTACKER) for _ in range(4)]
        victim = ApiClient(client(OTHER_ADDRESS)).user(password=PASSWORD)

        def guess(n: int) -> int:
            return _change(attackers[n % 4], victim, f"guess {n}", "new password 1").status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(guess, range(24)))
    assert sorted(statuses) == [422] * 5 + [429] * 19


# -- the other costly writes -------------------------------------------------------------


@dataclass
class _Scene:
    api: ApiClient
    actor: TestUser
    other: TestUser
    room: str  # a public room of ``other``'s
    own_room: str  # a room of ``actor``'s with a message of theirs at ``seq``
    seq: int


Write = Callable[[_Scene, int], Response]


def _join_or_leave(scene: _Scene, n: int) -> Response:
    action = "join" if n % 2 == 0 else "leave"
    return scene.api.call("POST", f"/api/rooms/{scene.room}/{action}", scene.actor)


def _add_or_remove(scene: _Scene, n: int) -> Response:
    if n % 2 == 0:
        body = {"username": scene.other.username}
        return scene.api.call("POST", f"/api/rooms/{scene.own_room}/members", scene.actor, body)
    path = f"/api/rooms/{scene.own_room}/members/{scene.other.id}"
    return scene.api.call("DELETE", path, scene.actor)


def _edit_or_delete(scene: _Scene, n: int) -> Response:
    path = f"/api/rooms/{scene.own_room}/messages/{scene.seq}"
    if n < 2:
        return scene.api.call("PATCH", path, scene.actor, {"body": f"edit {n}"})
    return scene.api.call("DELETE", path, scene.actor)


def _create_room(scene: _Scene, n: int) -> Response:
    return scene.api.call("POST", "/api/rooms", scene.actor, {"name": f"room {n}"})


def _open_dm(scene: _Scene, n: int) -> Response:
    other = scene.api.user()
    return scene.api.call("POST", "/api/dms", scene.actor, {"username": other.username})


def _ticket(scene: _Scene, n: int) -> Response:
    return scene.api.call("POST", "/api/auth/ws-ticket", scene.actor)


WRITES: dict[str, tuple[str, Write, tuple[int, int]]] = {
    # name: (setting prefix, the write, the statuses of the first two calls)
    "join then leave": ("membership", _join_or_leave, (200, 204)),
    "add then remove a member": ("membership", _add_or_remove, (201, 204)),
    "edit then delete a message": ("edit", _edit_or_delete, (200, 200)),
    "create a room": ("room", _create_room, (201, 201)),
    "open a direct room": ("dm", _open_dm, (200, 200)),
    "issue a WebSocket ticket": ("ticket", _ticket, (200, 200)),
}


def _scene(api: ApiClient) -> _Scene:
    """Made with the raised limits (the ``api`` fixture): only the writes under test count.

    Both APIs share Valkey, and a bucket never holds more than the policy reading it
    allows, so the tight one starts with its full burst whatever was spent here."""
    actor, other = api.user(), api.user()
    room = api.room(other, name="open")
    own_room = api.room(actor, name="mine")
    posted = api.post_message(actor, own_room, "hello")
    assert posted.status_code == 201, posted.text
    return _Scene(api, actor, other, room, own_room, posted.json()["seq"])


@pytest.mark.parametrize("name", list(WRITES))
def test_a_costly_write_is_throttled_per_user_and_nothing_else_is(
    settings: Settings, api: ApiClient, name: str
) -> None:
    prefix, write, first_two = WRITES[name]
    limits = {f"rate_{prefix}_burst": 2, f"rate_{prefix}_per_minute": 1}
    with _api(settings, **limits) as client:
        tight = ApiClient(client(ATTACKER))
        scene, bystander = _scene(api), _scene(api)
        scene.api = bystander.api = tight

        answers = [write(scene, n) for n in range(3)]
        assert tuple(a.status_code for a in answers[:2]) == first_two, [a.text for a in answers]
        _assert_rate_limited(answers[2])

        # the bucket is this user's and this write's: the same user still posts and
        # reads, and another user may do the same write
        assert tight.post_message(scene.actor, scene.own_room, "still here").status_code == 201
        assert tight.call("GET", f"/api/rooms/{scene.own_room}", scene.actor).status_code == 200
        assert write(bystander, 0).status_code == first_two[0]


def test_a_throttled_write_changes_nothing(settings: Settings) -> None:
    """The 429 comes before the write: the third room is not created."""
    with _api(settings, rate_room_burst=2, rate_room_per_minute=1) as client:
        api = ApiClient(client(ATTACKER))
        actor = api.user()
        names = [f"r{uuid.uuid4().hex[:6]}" for _ in range(3)]
        statuses = [api.call("POST", "/api/rooms", actor, {"name": n}).status_code
                    for n in names]  # fmt: skip
        assert statuses == [201, 201, 429]
        mine = {r["name"] for r in api.my_rooms(actor)}
        assert mine == set(names[:2])
