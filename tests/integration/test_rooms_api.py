"""Rooms, members, direct rooms and presence over REST against real PostgreSQL and Valkey.

Each test walks one endpoint's success path (and the refusals that belong to its rules),
and checks what the real-time seam was told through the recording publisher.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import redis

from chatflow.cache.presence import presence_key
from chatflow.models import Message
from chatflow.publisher import RecordingPublisher
from tests.helpers.api import ApiClient, TestUser


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _history(api: ApiClient, user: TestUser, room_id: str) -> list[dict[str, Any]]:
    page = _ok(api.call("GET", f"/api/rooms/{room_id}/messages?limit=100", user))
    items: list[dict[str, Any]] = page["items"]
    return items


def _stored(publisher: RecordingPublisher) -> list[Message]:
    return [m for kind, m in publisher.events if kind == "stored" and isinstance(m, Message)]


def _add(api: ApiClient, actor: TestUser, room_id: str, target: TestUser, role: str = "") -> Any:
    body = {"username": target.username, **({"role": role} if role else {})}
    return api.call("POST", f"/api/rooms/{room_id}/members", actor, body)


# -- rooms -----------------------------------------------------------------------------


def test_create_public_and_private_rooms(api: ApiClient) -> None:
    owner = api.user()
    public = _ok(
        api.call(
            "POST",
            "/api/rooms",
            owner,
            {"name": "  General  ", "topic": "all things", "visibility": "public"},
        ),
        201,
    )
    assert public["name"] == "General"
    assert public["topic"] == "all things"
    assert public["visibility"] == "public"
    assert public["role"] == "owner"
    assert public["lastSeq"] == 0
    assert public["unread"] == 0
    assert public["createdAt"].endswith("Z")
    uuid.UUID(public["id"])
    private = _ok(
        api.call("POST", "/api/rooms", owner, {"name": "secret", "visibility": "private"}), 201
    )
    assert private["visibility"] == "private"
    assert private["topic"] == ""
    default = _ok(api.call("POST", "/api/rooms", owner, {"name": "plain"}), 201)
    assert default["visibility"] == "public"


def test_list_mine_has_unread_counts_that_drop_when_read(api: ApiClient) -> None:
    owner, reader = api.user(), api.user()
    busy = api.room(owner, name="busy")
    quiet = api.room(owner, name="quiet")
    mine_only = api.room(owner, name="mine-only")
    for room_id in (busy, quiet):
        _ok(api.call("POST", f"/api/rooms/{room_id}/join", reader))
    for text in ("one", "two", "three"):
        _ok(api.post_message(owner, busy, text), 201)

    listed = {r["id"]: r for r in api.my_rooms(reader)}
    assert set(listed) == {busy, quiet}
    assert listed[busy]["unread"] == 3
    assert listed[busy]["role"] == "member"
    assert listed[quiet]["unread"] == 0
    owner_listed = {r["id"]: r for r in api.my_rooms(owner)}
    assert set(owner_listed) == {busy, quiet, mine_only}

    last = listed[busy]["lastSeq"]
    marked = _ok(api.call("PUT", f"/api/rooms/{busy}/read", reader, {"seq": last - 1}))
    assert marked == {"lastReadSeq": last - 1}
    after = {r["id"]: r for r in api.my_rooms(reader)}
    assert after[busy]["unread"] == 1
    _ok(api.call("PUT", f"/api/rooms/{busy}/read", reader, {"seq": last}))
    after = {r["id"]: r for r in api.my_rooms(reader)}
    assert after[busy]["unread"] == 0


def test_sending_reads_the_room_up_to_ones_own_message(api: ApiClient) -> None:
    owner, reader = api.user(), api.user()
    room = api.room(owner)
    _ok(api.call("POST", f"/api/rooms/{room}/join", reader))
    for text in ("one", "two"):
        _ok(api.post_message(owner, room, text), 201)
    mine = {r["id"]: r for r in api.my_rooms(owner)}[room]
    assert mine["unread"] == 0  # the owner's own messages (and the reader's join: read)
    theirs = {r["id"]: r for r in api.my_rooms(reader)}[room]
    assert theirs["unread"] == 2

    reply = _ok(api.post_message(reader, room, "three"), 201)
    theirs = {r["id"]: r for r in api.my_rooms(reader)}[room]
    assert theirs["unread"] == 0  # replying means having read what came before
    assert theirs["lastSeq"] == reply["seq"]
    mine = {r["id"]: r for r in api.my_rooms(owner)}[room]
    assert mine["unread"] == 1
    # a repeated clientMsgId stores nothing and moves nothing
    again = _ok(api.post_message(reader, room, "four", clientMsgId="c-4"), 201)
    _ok(api.call("PUT", f"/api/rooms/{room}/read", owner, {"seq": again["seq"]}))
    assert _ok(api.post_message(reader, room, "four", clientMsgId="c-4"))["seq"] == again["seq"]
    mine = {r["id"]: r for r in api.my_rooms(owner)}[room]
    assert mine["unread"] == 0


def test_search_public_by_name_prefix(api: ApiClient) -> None:
    owner, searcher = api.user(), api.user()
    for name in ("Python", "pyramid", "rust", "100% real", "100 percent", "a_b", "axb"):
        api.room(owner, name=name)
    api.room(owner, visibility="private", name="python-secret")

    def search(q: str) -> list[str]:
        response = api.http.get("/api/rooms/public", params={"q": q}, headers=searcher.headers)
        return [r["name"] for r in _ok(response)]

    assert search("py") == ["pyramid", "Python"]
    assert search("PY") == ["pyramid", "Python"]
    assert search("python") == ["Python"]
    assert "python-secret" not in search("")
    assert search("100%") == ["100% real"]
    assert search("%") == []
    assert search("a_") == ["a_b"]
    assert search("_") == []
    assert search("zzz") == []
    found = _ok(api.http.get("/api/rooms/public", params={"q": "rust"}, headers=searcher.headers))
    assert found[0]["role"] is None
    assert found[0]["visibility"] == "public"


def test_get_room_member_view(api: ApiClient) -> None:
    owner = api.user()
    room_id = api.room(owner, name="lobby")
    got = _ok(api.call("GET", f"/api/rooms/{room_id}", owner))
    assert got["id"] == room_id
    assert got["name"] == "lobby"
    assert got["role"] == "owner"


def test_patch_room_by_owner_and_admin(api: ApiClient) -> None:
    owner, admin, member = api.user(), api.user(), api.user()
    room_id = api.room(owner, visibility="private", name="old")
    _ok(_add(api, owner, room_id, admin, "admin"), 201)
    _ok(_add(api, owner, room_id, member), 201)

    renamed = _ok(api.call("PATCH", f"/api/rooms/{room_id}", owner, {"name": "new"}))
    assert renamed["name"] == "new"
    retopic = _ok(api.call("PATCH", f"/api/rooms/{room_id}", admin, {"topic": "fresh"}))
    assert retopic["topic"] == "fresh"
    assert retopic["name"] == "new"
    assert retopic["role"] == "admin"
    refused = api.call("PATCH", f"/api/rooms/{room_id}", member, {"name": "mine"})
    assert refused.status_code == 403
    assert _ok(api.call("GET", f"/api/rooms/{room_id}", owner))["name"] == "new"


def test_delete_room_by_owner(api: ApiClient, publisher: RecordingPublisher) -> None:
    owner, admin = api.user(), api.user()
    room_id = api.room(owner)
    _ok(_add(api, owner, room_id, admin, "admin"), 201)
    _ok(api.post_message(owner, room_id, "soon gone"), 201)

    assert api.call("DELETE", f"/api/rooms/{room_id}", admin).status_code == 403
    assert ("deleted", uuid.UUID(room_id)) not in publisher.events
    assert api.call("DELETE", f"/api/rooms/{room_id}", owner).status_code == 204
    assert ("deleted", uuid.UUID(room_id)) in publisher.events
    assert api.call("GET", f"/api/rooms/{room_id}", owner).status_code == 404
    assert api.my_rooms(admin) == []


# -- joining and leaving ------------------------------------------------------------------


def test_join_public_stores_member_joined_once(
    api: ApiClient, publisher: RecordingPublisher
) -> None:
    owner, joiner = api.user(), api.user()
    room_id = api.room(owner)
    _ok(api.post_message(owner, room_id, "before"), 201)

    joined = _ok(api.call("POST", f"/api/rooms/{room_id}/join", joiner))
    assert joined["role"] == "member"
    assert joined["lastSeq"] == 2
    assert joined["unread"] == 0
    history = _history(api, joiner, room_id)
    assert [(m["seq"], m["type"]) for m in history] == [(1, "message"), (2, "member_joined")]
    event = history[-1]
    assert event["sender"] is None
    assert event["subject"]["id"] == joiner.id
    assert [m.seq for m in _stored(publisher)] == [1, 2]

    again = _ok(api.call("POST", f"/api/rooms/{room_id}/join", joiner))
    assert again["lastSeq"] == 2
    assert len(_history(api, joiner, room_id)) == 2
    assert len(_stored(publisher)) == 2
    members = _ok(api.call("GET", f"/api/rooms/{room_id}/members", owner))
    assert [m["user"]["id"] for m in members] == [owner.id, joiner.id]


def test_join_private_room_is_not_found(api: ApiClient) -> None:
    owner, stranger = api.user(), api.user()
    room_id = api.room(owner, visibility="private")
    assert api.call("POST", f"/api/rooms/{room_id}/join", stranger).status_code == 404


def test_leave_stores_member_left_and_owner_cannot_leave(
    api: ApiClient, publisher: RecordingPublisher
) -> None:
    owner, member = api.user(), api.user()
    room_id = api.room(owner)
    _ok(api.call("POST", f"/api/rooms/{room_id}/join", member))

    assert api.call("POST", f"/api/rooms/{room_id}/leave", member).status_code == 204
    history = _history(api, owner, room_id)
    assert [(m["seq"], m["type"]) for m in history] == [(1, "member_joined"), (2, "member_left")]
    assert history[-1]["subject"]["id"] == member.id
    assert ("removed", (uuid.UUID(room_id), uuid.UUID(member.id))) in publisher.events
    assert [m.kind.value for m in _stored(publisher)] == ["member_joined", "member_left"]
    assert api.my_rooms(member) == []

    refused = api.call("POST", f"/api/rooms/{room_id}/leave", owner)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert len(_history(api, owner, room_id)) == 2


# -- members ---------------------------------------------------------------------------


def test_members_list(api: ApiClient) -> None:
    owner, admin, member = api.user(), api.user(), api.user()
    room_id = api.room(owner, visibility="private")
    _ok(_add(api, owner, room_id, admin, "admin"), 201)
    _ok(_add(api, owner, room_id, member), 201)
    listed = _ok(api.call("GET", f"/api/rooms/{room_id}/members", member))
    assert [(m["user"]["username"], m["role"]) for m in listed] == [
        (owner.username, "owner"),
        (admin.username, "admin"),
        (member.username, "member"),
    ]
    assert all(m["joinedAt"].endswith("Z") for m in listed)


def test_add_member_by_username(api: ApiClient, publisher: RecordingPublisher) -> None:
    owner, admin, newcomer, other = api.user(), api.user(), api.user(), api.user()
    room_id = api.room(owner, visibility="private")

    made_admin = _ok(_add(api, owner, room_id, admin, "admin"), 201)
    assert made_admin["role"] == "admin"
    assert made_admin["user"]["id"] == admin.id
    added = _ok(
        api.call(
            "POST", f"/api/rooms/{room_id}/members", admin, {"username": newcomer.username.upper()}
        ),
        201,
    )
    assert added["role"] == "member"
    assert added["user"]["username"] == newcomer.username
    assert _ok(api.call("GET", f"/api/rooms/{room_id}", newcomer))["role"] == "member"

    again = _add(api, owner, room_id, newcomer)
    assert again.status_code == 409
    assert _add(api, admin, room_id, other, "admin").status_code == 403
    missing = api.call("POST", f"/api/rooms/{room_id}/members", owner, {"username": "nobody-x"})
    assert missing.status_code == 404
    # a plain member cannot tell existing usernames from unknown ones
    for name in ("nobody-x", other.username):
        probe = api.call("POST", f"/api/rooms/{room_id}/members", newcomer, {"username": name})
        assert probe.status_code == 403, name
    history = _history(api, owner, room_id)
    assert [(m["type"], m["subject"]["id"]) for m in history] == [
        ("member_joined", admin.id),
        ("member_joined", newcomer.id),
    ]
    assert [m.seq for m in _stored(publisher)] == [1, 2]


def test_remove_member_rules(api: ApiClient, publisher: RecordingPublisher) -> None:
    owner, admin, admin2, member, member2 = (api.user() for _ in range(5))
    room_id = api.room(owner, visibility="private")
    for user, role in ((admin, "admin"), (admin2, "admin"), (member, ""), (member2, "")):
        _ok(_add(api, owner, room_id, user, role), 201)
    path = f"/api/rooms/{room_id}/members"

    assert api.call("DELETE", f"{path}/{member2.id}", member).status_code == 403
    assert api.call("DELETE", f"{path}/{owner.id}", admin).status_code == 403
    assert api.call("DELETE", f"{path}/{admin2.id}", admin).status_code == 403
    assert api.call("DELETE", f"{path}/{uuid.uuid4()}", admin).status_code == 404

    assert api.call("DELETE", f"{path}/{member.id}", admin).status_code == 204
    assert api.call("DELETE", f"{path}/{admin2.id}", owner).status_code == 204
    assert api.call("GET", f"/api/rooms/{room_id}", member).status_code == 404
    remaining = {m["user"]["id"] for m in _ok(api.call("GET", path, owner))}
    assert remaining == {owner.id, admin.id, member2.id}

    removed = [e for e in publisher.events if e[0] == "removed"]
    assert removed == [
        ("removed", (uuid.UUID(room_id), uuid.UUID(member.id))),
        ("removed", (uuid.UUID(room_id), uuid.UUID(admin2.id))),
    ]
    left = [m for m in _history(api, owner, room_id) if m["type"] == "member_left"]
    assert [(m["subject"]["id"], m["body"]) for m in left] == [
        (member.id, f"removed by {admin.username}"),
        (admin2.id, f"removed by {owner.username}"),
    ]


def test_change_role_and_transfer_ownership(api: ApiClient, publisher: RecordingPublisher) -> None:
    owner, admin, member = api.user(), api.user(), api.user()
    room_id = api.room(owner, visibility="private")
    _ok(_add(api, owner, room_id, admin, "admin"), 201)
    _ok(_add(api, owner, room_id, member), 201)
    path = f"/api/rooms/{room_id}/members"

    assert api.call("PATCH", f"{path}/{member.id}", admin, {"role": "admin"}).status_code == 403
    assert api.call("PATCH", f"{path}/{owner.id}", owner, {"role": "member"}).status_code == 409
    stranger = api.call("PATCH", f"{path}/{uuid.uuid4()}", owner, {"role": "admin"})
    assert stranger.status_code == 404
    promoted = _ok(api.call("PATCH", f"{path}/{member.id}", owner, {"role": "admin"}))
    assert promoted["role"] == "admin"
    assert promoted["user"]["id"] == member.id

    handed = _ok(api.call("PATCH", f"{path}/{admin.id}", owner, {"role": "owner"}))
    assert handed["role"] == "owner"
    roles = {m["user"]["id"]: m["role"] for m in _ok(api.call("GET", path, owner))}
    assert roles == {owner.id: "admin", admin.id: "owner", member.id: "admin"}
    assert api.call("DELETE", f"/api/rooms/{room_id}", owner).status_code == 403
    assert api.call("POST", f"/api/rooms/{room_id}/leave", owner).status_code == 204

    changed = [m for m in _history(api, admin, room_id) if m["type"] == "role_changed"]
    assert [(m["subject"]["id"], m["body"]) for m in changed] == [
        (member.id, "admin"),
        (owner.id, "admin"),
        (admin.id, "owner"),
    ]
    assert all(isinstance(m["seq"], int) and m["sender"] is None for m in changed)
    kinds = [m.kind.value for m in _stored(publisher)]
    assert kinds.count("role_changed") == 3


# -- direct rooms ----------------------------------------------------------------------


def test_direct_room_is_the_same_from_either_side(api: ApiClient) -> None:
    alice, bob = api.user(), api.user()
    first = _ok(api.call("POST", "/api/dms", alice, {"username": bob.username}))
    second = _ok(api.call("POST", "/api/dms", alice, {"username": bob.username.upper()}))
    reverse = _ok(api.call("POST", "/api/dms", bob, {"username": alice.username}))
    assert first["id"] == second["id"] == reverse["id"]
    assert first["visibility"] == "direct"
    assert reverse["role"] == "member"
    _ok(api.post_message(alice, first["id"], "psst"), 201)
    assert [m["body"] for m in _history(api, bob, first["id"])] == ["psst"]
    members = _ok(api.call("GET", f"/api/rooms/{first['id']}/members", bob))
    assert {m["user"]["id"] for m in members} == {alice.id, bob.id}


def test_direct_room_with_yourself_is_refused(api: ApiClient) -> None:
    alice = api.user()
    response = api.call("POST", "/api/dms", alice, {"username": alice.username})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "username"
    unknown = api.call("POST", "/api/dms", alice, {"username": "nobody-here"})
    assert unknown.status_code == 404
    assert api.my_rooms(alice) == []


# -- presence --------------------------------------------------------------------------


def test_presence_lists_only_unexpired_members(api: ApiClient, clean_redis: redis.Redis) -> None:
    owner, online, two_tabs, expired, outsider = (api.user() for _ in range(5))
    room_id = api.room(owner)
    for user in (online, two_tabs, expired):
        _ok(api.call("POST", f"/api/rooms/{room_id}/join", user))
    now_ms = int(time.time() * 1000)
    later, earlier = now_ms + 60_000, now_ms - 60_000
    clean_redis.zadd(
        presence_key(room_id),
        {
            f"{online.id}:conn-a": later,
            f"{two_tabs.id}:conn-b": later,
            f"{two_tabs.id}:conn-c": later,
            f"{expired.id}:conn-d": earlier,
            f"{outsider.id}:conn-e": later,
            "not-a-uuid:conn-f": later,
        },
    )
    other_room = api.room(owner, name="elsewhere")
    clean_redis.zadd(presence_key(other_room), {f"{owner.id}:conn-g": later})

    response = _ok(api.call("GET", f"/api/rooms/{room_id}/presence", owner))
    got = {u["id"]: u for u in response["online"]}
    assert set(got) == {online.id, two_tabs.id}
    assert got[online.id] == {
        "id": online.id,
        "username": online.username,
        "displayName": online.username,
    }
    empty = _ok(api.call("GET", f"/api/rooms/{api.room(owner, name='empty')}/presence", owner))
    assert empty == {"online": []}


# -- GET /api/rooms in keyset pages ------------------------------------------------------


def _page(api: ApiClient, user: TestUser, **params: Any) -> Any:
    return _ok(api.http.get("/api/rooms", params=params, headers=user.headers))


def test_my_rooms_come_in_pages_that_skip_and_repeat_nothing(api: ApiClient) -> None:
    """More rooms than a page: every room exactly once, however many come per page,
    even when rooms get messages, are joined and are left while the pages are read."""
    owner, member = api.user(), api.user()
    rooms = [api.room(owner, name=f"room {n}") for n in range(23)]
    others = [api.room(member, name=f"theirs {n}") for n in range(3)]
    for room_id in rooms[:12]:
        _ok(api.call("POST", f"/api/rooms/{room_id}/join", member))

    first = _page(api, owner)  # the default page holds them all
    assert sorted(r["id"] for r in first["items"]) == sorted(rooms)
    assert first["nextAfter"] is None
    for limit in (1, 5, 22, 23, 24):
        listed = [r["id"] for r in api.my_rooms(owner, limit=limit)]
        assert sorted(listed) == sorted(rooms), limit
    # the member's rooms: their own and the 12 joined
    assert sorted(r["id"] for r in api.my_rooms(member, limit=4)) == sorted(rooms[:12] + others)

    # activity between pages moves nothing: the order is by room id, which never changes
    seen: list[str] = []
    page = _page(api, owner, limit=5)
    while True:
        seen += [r["id"] for r in page["items"]]
        for room_id in rooms:  # a message everywhere; in an order by activity rooms move
            _ok(api.post_message(owner, room_id, "tick"), 201)
        if page["nextAfter"] is None:
            break
        page = _page(api, owner, limit=5, after=page["nextAfter"])
    assert len(seen) == len(set(seen)) == len(rooms)
    assert seen == sorted(seen, key=uuid.UUID)


def test_a_full_last_page_says_there_is_no_next(api: ApiClient) -> None:
    owner = api.user()
    rooms = sorted((api.room(owner, name=f"r{n}") for n in range(4)), key=uuid.UUID)
    page = _page(api, owner, limit=2)
    assert ([r["id"] for r in page["items"]], page["nextAfter"]) == (rooms[:2], rooms[1])
    page = _page(api, owner, limit=2, after=page["nextAfter"])
    assert ([r["id"] for r in page["items"]], page["nextAfter"]) == (rooms[2:], None)
    # a cursor past the end, or a room id that is not the caller's, is just a position
    assert _page(api, owner, after=rooms[-1]) == {"items": [], "nextAfter": None}
    stranger = api.room(api.user(), name="elsewhere")
    after = [r["id"] for r in _page(api, owner, after=stranger)["items"]]
    assert after == [r for r in rooms if uuid.UUID(r) > uuid.UUID(stranger)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "not-a-cursor"}, "after"),
        ({"after": "00000000-0000-0000-0000-00000000000"}, "after"),
        ({"after": "'; DROP TABLE rooms; --"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "\u0661\u0660"}, "limit"),  # Arabic-Indic digits are not a number here
    ],
)
def test_bad_page_parameters_are_422_naming_them(
    api: ApiClient, params: dict[str, str], field: str
) -> None:
    owner = api.user()
    api.room(owner)
    response = api.http.get("/api/rooms", params=params, headers=owner.headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_the_default_page_is_bounded(api: ApiClient) -> None:
    """Before: all 500 rooms of the review came in one 91 KB answer."""
    owner = api.user()
    rooms = {api.room(owner, name=f"room {n}") for n in range(105)}
    first = _page(api, owner)
    assert len(first["items"]) == 100 and first["nextAfter"] is not None
    rest = _page(api, owner, after=first["nextAfter"])
    assert len(rest["items"]) == 5 and rest["nextAfter"] is None
    assert {r["id"] for r in first["items"] + rest["items"]} == rooms
    assert len(_page(api, owner, limit=200)["items"]) == 105
