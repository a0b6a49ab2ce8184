"""Messages over REST against real PostgreSQL and Valkey: post, history, edit, delete, read.

History is keyset-paginated on ``seq``; the walks below follow the cursors the server
hands out and check that every stored ``seq`` comes back exactly once, in order.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chatflow.api.app import create_app
from chatflow.container import build_container
from chatflow.models import Message
from chatflow.publisher import RecordingPublisher
from chatflow.settings import Settings
from tests.helpers.api import ApiClient, TestUser


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _page(api: ApiClient, user: TestUser, room_id: str, query: str = "") -> dict[str, Any]:
    page: dict[str, Any] = _ok(api.call("GET", f"/api/rooms/{room_id}/messages?{query}", user))
    return page


def _seqs(page: dict[str, Any]) -> list[int]:
    return [m["seq"] for m in page["items"]]


def _stored(publisher: RecordingPublisher) -> list[Message]:
    return [m for kind, m in publisher.events if kind == "stored" and isinstance(m, Message)]


def _changed(publisher: RecordingPublisher) -> list[Message]:
    return [m for kind, m in publisher.events if kind == "changed" and isinstance(m, Message)]


@pytest.fixture
def trio(api: ApiClient) -> tuple[TestUser, TestUser, TestUser, str]:
    """An owner, an admin and a member of one private room whose history starts at seq 3.

    Adding the two members stores two ``member_joined`` lines (seq 1 and 2).
    """
    owner, admin, member = api.user(), api.user(), api.user()
    room_id = api.room(owner, visibility="private")
    for user, role in ((admin, "admin"), (member, "member")):
        body = {"username": user.username, "role": role}
        _ok(api.call("POST", f"/api/rooms/{room_id}/members", owner, body), 201)
    return owner, admin, member, room_id


# -- posting ---------------------------------------------------------------------------


def test_post_numbers_each_room_on_its_own(api: ApiClient, publisher: RecordingPublisher) -> None:
    alice = api.user()
    first, second = api.room(alice, name="first"), api.room(alice, name="second")
    posted = [_ok(api.post_message(alice, first, f"m{i}"), 201) for i in range(3)]
    other = _ok(api.post_message(alice, second, "elsewhere"), 201)

    assert [m["seq"] for m in posted] == [1, 2, 3]
    assert other["seq"] == 1
    message = posted[0]
    assert message["type"] == "message"
    assert message["roomId"] == first
    assert message["body"] == "m0"
    assert message["sender"] == {
        "id": alice.id,
        "username": alice.username,
        "displayName": alice.username,
    }
    assert message["createdAt"].endswith("Z")
    assert message["editedAt"] is None
    assert message["deletedAt"] is None
    assert _ok(api.call("GET", f"/api/rooms/{first}", alice))["lastSeq"] == 3
    assert [(str(m.room_id), m.seq) for m in _stored(publisher)] == [
        (first, 1),
        (first, 2),
        (first, 3),
        (second, 1),
    ]


def test_a_retried_client_msg_id_stores_nothing_new(
    api: ApiClient, publisher: RecordingPublisher
) -> None:
    alice, bob = api.user(), api.user()
    room_id = api.room(alice)
    _ok(api.call("POST", f"/api/rooms/{room_id}/join", bob))
    cmid = str(uuid.uuid4())

    first = _ok(api.post_message(alice, room_id, "once", clientMsgId=cmid), 201)
    retry = _ok(api.post_message(alice, room_id, "once", clientMsgId=cmid), 200)
    changed_body = _ok(api.post_message(alice, room_id, "twice?", clientMsgId=cmid), 200)
    assert retry == first
    assert changed_body == first
    bobs = _ok(api.post_message(bob, room_id, "mine", clientMsgId=cmid), 201)
    assert bobs["id"] != first["id"]
    assert bobs["seq"] == first["seq"] + 1
    assert bobs["sender"]["id"] == bob.id

    history = _page(api, alice, room_id)["items"]
    bodies = [m["body"] for m in history if m["type"] == "message"]
    assert bodies == ["once", "mine"]
    assert [m.body for m in _stored(publisher) if m.sender is not None] == ["once", "mine"]


def test_body_limit_is_max_message_chars(api: ApiClient, settings: Settings) -> None:
    alice = api.user()
    room_id = api.room(alice)
    limit = settings.max_message_chars
    assert limit == 4000
    full = _ok(api.post_message(alice, room_id, "x" * limit), 201)
    assert len(full["body"]) == limit
    over = api.post_message(alice, room_id, "x" * (limit + 1))
    assert over.status_code == 422
    assert [e["field"] for e in over.json()["errors"]] == ["body"]
    assert _ok(api.call("GET", f"/api/rooms/{room_id}", alice))["lastSeq"] == 1


def test_posting_is_rate_limited_per_user(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_send_burst": 3, "rate_send_per_second": 1})
    container = build_container(limited, publisher=RecordingPublisher())
    try:
        with TestClient(create_app(lambda: container), raise_server_exceptions=False) as http:
            api = ApiClient(http)
            alice, bob = api.user(), api.user()
            room_id = api.room(alice)
            _ok(api.call("POST", f"/api/rooms/{room_id}/join", bob))
            statuses = []
            refused = None
            for i in range(20):
                response = api.post_message(alice, room_id, f"flood {i}")
                statuses.append(response.status_code)
                if response.status_code == 429:
                    refused = response
                    break
            assert refused is not None, statuses
            # A burst of three always passes; a refill can only add more.
            assert statuses[:3] == [201, 201, 201]
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["status"] == 429
            assert refused.json()["type"].endswith("/rate-limited")
            stored = [m for m in _page(api, alice, room_id, "limit=100")["items"] if m["sender"]]
            assert len(stored) == statuses.count(201)
            _ok(api.post_message(bob, room_id, "not limited"), 201)
    finally:
        container.db.close()
        container.cache.close()


# -- history ---------------------------------------------------------------------------


def test_history_of_an_empty_room(api: ApiClient) -> None:
    alice = api.user()
    room_id = api.room(alice)
    assert _page(api, alice, room_id) == {"items": [], "nextBefore": None, "nextAfter": None}


def test_history_keyset_pages(api: ApiClient) -> None:
    alice = api.user()
    room_id = api.room(alice)
    for i in range(25):
        _ok(api.post_message(alice, room_id, f"m{i + 1}"), 201)

    newest = _page(api, alice, room_id, "limit=10")
    assert _seqs(newest) == list(range(16, 26))
    assert (newest["nextBefore"], newest["nextAfter"]) == (16, None)
    assert [m["body"] for m in newest["items"]] == [f"m{s}" for s in range(16, 26)]

    middle = _page(api, alice, room_id, "limit=10&before=16")
    assert _seqs(middle) == list(range(6, 16))
    assert (middle["nextBefore"], middle["nextAfter"]) == (6, 15)

    oldest = _page(api, alice, room_id, "limit=10&before=6")
    assert _seqs(oldest) == [1, 2, 3, 4, 5]
    assert (oldest["nextBefore"], oldest["nextAfter"]) == (None, 5)

    start = _page(api, alice, room_id, "limit=10&after=0")
    assert _seqs(start) == list(range(1, 11))
    assert (start["nextBefore"], start["nextAfter"]) == (None, 10)

    end = _page(api, alice, room_id, "limit=10&after=20")
    assert _seqs(end) == list(range(21, 26))
    assert (end["nextBefore"], end["nextAfter"]) == (21, None)

    assert _page(api, alice, room_id, "after=25") == {
        "items": [],
        "nextBefore": None,
        "nextAfter": None,
    }
    assert _seqs(_page(api, alice, room_id)) == list(range(1, 26))  # default limit 50


def test_history_limit_bounds(api: ApiClient) -> None:
    alice = api.user()
    room_id = api.room(alice)
    for i in range(101):
        _ok(api.post_message(alice, room_id, f"m{i}"), 201)
    assert _seqs(_page(api, alice, room_id, "limit=1")) == [101]
    assert _seqs(_page(api, alice, room_id, "limit=100")) == list(range(2, 102))
    for bad in ("0", "101", "-1", "ten"):
        response = api.call("GET", f"/api/rooms/{room_id}/messages?limit={bad}", alice)
        assert response.status_code == 422, bad
        assert [e["field"] for e in response.json()["errors"]] == ["limit"]


def test_before_and_after_together_are_refused(api: ApiClient) -> None:
    alice = api.user()
    room_id = api.room(alice)
    _ok(api.post_message(alice, room_id), 201)
    response = api.call("GET", f"/api/rooms/{room_id}/messages?before=5&after=1", alice)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == {"before", "after"}


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
def test_walking_all_pages_returns_every_seq_once(api: ApiClient, limit: int) -> None:
    alice, bob = api.user(), api.user()
    room_id = api.room(alice)
    _ok(api.call("POST", f"/api/rooms/{room_id}/join", bob))  # a system line in the mix
    for i in range(20):
        _ok(api.post_message(alice if i % 2 else bob, room_id, f"m{i}"), 201)
    total = 21

    backwards: list[int] = []
    page = _page(api, alice, room_id, f"limit={limit}")
    while True:
        backwards = _seqs(page) + backwards
        if page["nextBefore"] is None:
            break
        page = _page(api, alice, room_id, f"limit={limit}&before={page['nextBefore']}")
    assert backwards == list(range(1, total + 1))

    forwards: list[int] = []
    page = _page(api, alice, room_id, f"limit={limit}&after=0")
    while True:
        forwards += _seqs(page)
        if page["nextAfter"] is None:
            break
        page = _page(api, alice, room_id, f"limit={limit}&after={page['nextAfter']}")
    assert forwards == list(range(1, total + 1))


# -- editing and deleting -------------------------------------------------------------


def test_edit_own_message(
    api: ApiClient, trio: tuple[TestUser, TestUser, TestUser, str], publisher: RecordingPublisher
) -> None:
    owner, admin, member, room_id = trio
    seq = _ok(api.post_message(member, room_id, "typo"), 201)["seq"]
    path = f"/api/rooms/{room_id}/messages/{seq}"

    edited = _ok(api.call("PATCH", path, member, {"body": "fixed"}))
    assert edited["body"] == "fixed"
    assert edited["seq"] == seq
    assert edited["editedAt"] is not None
    assert edited["deletedAt"] is None
    assert [(m.seq, m.body) for m in _changed(publisher)] == [(seq, "fixed")]
    for other in (admin, owner):
        refused = api.call("PATCH", path, other, {"body": "not yours"})
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
    missing = api.call("PATCH", f"/api/rooms/{room_id}/messages/999", member, {"body": "x"})
    assert missing.status_code == 404
    latest = _page(api, owner, room_id)["items"][-1]
    assert (latest["seq"], latest["body"]) == (seq, "fixed")
    assert len(_changed(publisher)) == 1


def test_delete_own_message_leaves_a_tombstone(
    api: ApiClient, trio: tuple[TestUser, TestUser, TestUser, str], publisher: RecordingPublisher
) -> None:
    owner, _, member, room_id = trio
    seq = _ok(api.post_message(member, room_id, "regret"), 201)["seq"]
    _ok(api.post_message(member, room_id, "after"), 201)
    path = f"/api/rooms/{room_id}/messages/{seq}"

    assert api.call("DELETE", path, member).status_code == 204
    items = {m["seq"]: m for m in _page(api, owner, room_id)["items"]}
    tomb = items[seq]
    assert tomb["body"] == ""
    assert tomb["deletedAt"] is not None
    assert tomb["sender"]["id"] == member.id
    assert items[seq + 1]["body"] == "after"
    assert [(m.seq, m.body) for m in _changed(publisher)] == [(seq, "")]

    assert api.call("DELETE", path, member).status_code == 204
    assert len(_changed(publisher)) == 1
    assert api.call("PATCH", path, member, {"body": "undo"}).status_code == 404


def test_managers_delete_other_peoples_messages(
    api: ApiClient, trio: tuple[TestUser, TestUser, TestUser, str]
) -> None:
    owner, admin, member, room_id = trio
    by_member = _ok(api.post_message(member, room_id, "spam"), 201)["seq"]
    by_admin = _ok(api.post_message(admin, room_id, "admin spam"), 201)["seq"]
    by_owner = _ok(api.post_message(owner, room_id, "owner words"), 201)["seq"]
    base = f"/api/rooms/{room_id}/messages"

    assert api.call("DELETE", f"{base}/{by_owner}", member).status_code == 403
    assert api.call("DELETE", f"{base}/{by_member}", admin).status_code == 204
    assert api.call("DELETE", f"{base}/{by_admin}", owner).status_code == 204
    items = {m["seq"]: m for m in _page(api, owner, room_id)["items"]}
    assert items[by_member]["deletedAt"] is not None
    assert items[by_admin]["deletedAt"] is not None
    assert (items[by_owner]["body"], items[by_owner]["deletedAt"]) == ("owner words", None)


def test_system_messages_cannot_be_edited_or_deleted(
    api: ApiClient, trio: tuple[TestUser, TestUser, TestUser, str]
) -> None:
    owner, _, _, room_id = trio
    system = _page(api, owner, room_id)["items"][0]
    assert system["type"] == "member_joined"
    path = f"/api/rooms/{room_id}/messages/{system['seq']}"
    assert api.call("PATCH", path, owner, {"body": "rewritten"}).status_code == 403
    assert api.call("DELETE", path, owner).status_code == 403
    assert _page(api, owner, room_id)["items"][0] == system


# -- read positions ------------------------------------------------------------------


def test_read_position_moves_forward_only(
    api: ApiClient, trio: tuple[TestUser, TestUser, TestUser, str]
) -> None:
    owner, _, member, room_id = trio
    for i in range(3):
        _ok(api.post_message(owner, room_id, f"m{i}"), 201)
    path = f"/api/rooms/{room_id}/read"
    last = _ok(api.call("GET", f"/api/rooms/{room_id}", member))["lastSeq"]
    assert last == 5

    assert _ok(api.call("PUT", path, member, {"seq": 4})) == {"lastReadSeq": 4}
    assert _ok(api.call("PUT", path, member, {"seq": 1})) == {"lastReadSeq": 4}
    assert _ok(api.call("GET", f"/api/rooms/{room_id}", member))["unread"] == 1
    beyond = api.call("PUT", path, member, {"seq": last + 1})
    assert beyond.status_code == 422
    assert [e["field"] for e in beyond.json()["errors"]] == ["seq"]
    assert api.call("PUT", path, member, {"seq": -1}).status_code == 422
    assert _ok(api.call("PUT", path, member, {"seq": last})) == {"lastReadSeq": last}
    assert _ok(api.call("GET", f"/api/rooms/{room_id}", member))["unread"] == 0
