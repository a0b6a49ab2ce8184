"""Interleavings of connections, frames, membership and closes, as API Gateway may run them.

Each example is a generated script over a small world (two members of a private room,
an outsider, three sockets): sockets open (with a ticket, a bearer header or nothing),
send CONNECT, SUBSCRIBE, SEND, typing and UNSUBSCRIBE frames, and close — and a frame may
come after its socket's ``$disconnect``, as an invocation still in flight would; between
any two steps the owner may remove the member, add them back or delete the room. Run one
step at a time in the generated order, that covers the orders that concurrent
invocations can take.

Properties, after every step: no handler raised (their ``logger.exception`` is
watched), nothing was answered "internal error", ``$connect`` never answered 500; and no
subscription to the private room belongs to someone who is not a member.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.helpers.api import TestUser
from tests.helpers.events import ws_message_event
from tests.helpers.ws_harness import WsClient
from tests.integration.ws_world import World

pytestmark = pytest.mark.integration

EXAMPLES = 150
SOCKETS = 3


def _fuzz_settings() -> settings:
    examples = EXAMPLES
    if settings.get_current_profile_name() != "default":
        examples = max(EXAMPLES, settings().max_examples // 100)
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same scripts every run: the coverage counts below hold
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


@dataclass
class Stage:
    world: World
    owner: TestUser
    member: TestUser
    outsider: TestUser
    failures: list[str] = field(default_factory=list)
    steps: dict[str, int] = field(default_factory=dict)

    def count(self, step: str) -> None:
        self.steps[step] = self.steps.get(step, 0) + 1


@pytest.fixture
def ws_env_overrides() -> dict[str, str]:
    return {"MAX_CONNECTIONS_PER_USER": "1000"}


@pytest.fixture
def stage(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stage]:
    made = Stage(world, world.api.user(), world.api.user(), world.api.user())
    for name in ("handlers.ws_frame", "handlers.ws_connect", "handlers.ws_disconnect"):
        module = world.gateway.modules[name]

        def record(message: str, *args: Any, _name: str = name, **kwargs: Any) -> None:
            made.failures.append(f"{_name}: {message % args if args else message}")

        monkeypatch.setattr(module.logger, "exception", record)
    yield made


STEP = st.one_of(
    st.tuples(
        st.just("open"),
        st.integers(0, SOCKETS - 1),
        st.sampled_from(["ticket", "bearer", "none"]),
        st.sampled_from(["member", "outsider"]),
    ),
    st.tuples(st.just("connect"), st.integers(0, SOCKETS - 1), st.booleans(), st.booleans()),
    st.tuples(
        st.just("subscribe"),
        st.integers(0, SOCKETS - 1),
        st.sampled_from(["room", "queue", "errors"]),
        st.integers(0, 2),
    ),
    st.tuples(st.just("unsubscribe"), st.integers(0, SOCKETS - 1), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("send"), st.integers(0, SOCKETS - 1), st.booleans(), st.just(0)),
    st.tuples(st.just("close"), st.integers(0, SOCKETS - 1), st.just(0), st.just(0)),
    st.tuples(
        st.just("late"),
        st.integers(0, SOCKETS - 1),
        st.sampled_from(["SUBSCRIBE", "CONNECT", "SEND"]),
        st.just(0),
    ),
    st.tuples(st.sampled_from(["remove", "readd", "delete"]), st.just(0), st.just(0), st.just(0)),
)


class Script:
    """The world of one example: a fresh private room, the member in it, no sockets."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.world = stage.world
        self.room = self.world.api.room(stage.owner, visibility="private")
        added = self.world.api.call(
            "POST",
            f"/api/rooms/{self.room}/members",
            stage.owner,
            {"username": stage.member.username},
        )
        assert added.status_code == 201, added.text
        self.member_in = True
        self.deleted = False
        self.sockets: dict[int, tuple[WsClient, TestUser]] = {}
        self.closed: dict[int, WsClient] = {}

    def run(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        self.stage.count(kind)
        getattr(self, f"_{kind}")(*step[1:])
        self._check()

    # -- the steps -------------------------------------------------------------------

    def _open(self, n: int, how: str, who: str) -> None:
        if n in self.sockets:
            return
        user = self.stage.member if who == "member" else self.stage.outsider
        gateway = self.world.gateway
        if how == "ticket":
            client = gateway.connect(ticket=self.world.ticket(user))
        elif how == "bearer":
            client = gateway.connect(bearer=user.token)
        else:
            client = gateway.connect()
        assert client is not None, "the authorizer refused a valid credential"
        self.sockets[n] = (client, user)

    def _frame(self, n: int, command: str, headers: dict[str, str], body: str = "") -> None:
        if n not in self.sockets:  # a frame needs a socket: the member's, with a ticket
            self._open(n, "ticket", "member")
        client, _user = self.sockets[n]
        if client.closed:
            self._forget(n)
            return
        client.send(command, headers, body)
        self._read(client)
        if client.closed:
            self._forget(n)

    def _connect(self, n: int, with_token: bool, stomp_command: bool) -> None:
        if n not in self.sockets:
            self._open(n, "none" if with_token else "ticket", "member")
        headers = {"accept-version": "1.2"}
        if with_token:
            headers["Authorization"] = f"Bearer {self.sockets[n][1].token}"
        self._frame(n, "STOMP" if stomp_command else "CONNECT", headers)

    def _subscribe(self, n: int, what: str, sub: int) -> None:
        destination = {
            "room": f"/topic/rooms/{self.room}",
            "queue": "/user/queue/notifications",
            "errors": "/user/queue/errors",
        }[what]
        self._frame(n, "SUBSCRIBE", {"id": f"s{sub}", "destination": destination, "receipt": "r"})

    def _unsubscribe(self, n: int, sub: int, _unused: int) -> None:
        self._frame(n, "UNSUBSCRIBE", {"id": f"s{sub}", "receipt": "u"})

    def _send(self, n: int, typing: bool, _unused: int) -> None:
        if typing:
            self._frame(n, "SEND", {"destination": f"/app/rooms/{self.room}/typing"}, "{}")
            return
        body = json.dumps({"body": "hello", "clientMsgId": uuid.uuid4().hex})
        self._frame(n, "SEND", {"destination": f"/app/rooms/{self.room}", "receipt": "m"}, body)

    def _close(self, n: int, _a: int, _b: int) -> None:
        entry = self.sockets.get(n)
        if entry is not None:
            entry[0].disconnect()
            self._forget(n)

    def _late(self, n: int, command: str, _unused: int) -> None:
        """A frame whose invocation runs after its socket's ``$disconnect``."""
        if not self.closed:
            return
        client = self.closed.get(n) or next(iter(self.closed.values()))
        self.stage.count("late-sent")
        headers = {
            "SUBSCRIBE": {"id": "late", "destination": f"/topic/rooms/{self.room}"},
            "CONNECT": {"accept-version": "1.2"},
            "SEND": {"destination": f"/app/rooms/{self.room}/typing"},
        }[command]
        from chatflow.stomp import Frame, serialize

        data = serialize(Frame(command, list(headers.items()), b"{}" if command == "SEND" else b""))
        event = ws_message_event(
            client.connection_id, data.decode(), client.connected_at, client.authorizer
        )
        result = self.world.gateway.modules["handlers.ws_frame"].handler(event, None)
        assert result == {"statusCode": 200}
        self._read(client)

    def _remove(self, *_: int) -> None:
        if self.member_in and not self.deleted:
            path = f"/api/rooms/{self.room}/members/{self.stage.member.id}"
            assert self.world.api.call("DELETE", path, self.stage.owner).status_code == 204
            self.member_in = False

    def _readd(self, *_: int) -> None:
        if not self.member_in and not self.deleted:
            added = self.world.api.call(
                "POST",
                f"/api/rooms/{self.room}/members",
                self.stage.owner,
                {"username": self.stage.member.username},
            )
            assert added.status_code == 201, added.text
            self.member_in = True

    def _delete(self, *_: int) -> None:
        if not self.deleted:
            path = f"/api/rooms/{self.room}"
            assert self.world.api.call("DELETE", path, self.stage.owner).status_code == 204
            self.deleted = True

    # -- bookkeeping and the properties ------------------------------------------------

    def _forget(self, n: int) -> None:
        client, _user = self.sockets.pop(n)
        self.closed[n] = client

    def _read(self, client: WsClient) -> None:
        for frame in client.receive():
            message = frame.header("message") or ""
            if "internal error" in message:
                self.stage.failures.append(f"internal error to {client.connection_id}")

    def _check(self) -> None:
        assert self.stage.failures == [], self.stage.failures
        allowed = {self.stage.owner.id} | ({self.stage.member.id} if self.member_in else set())
        if self.deleted:
            allowed = set()
        holders = {
            sub.user_id
            for page in self.world.runtime.table.room_subscriptions(self.room)
            for sub in page
        }
        assert holders <= allowed, (holders, allowed)

    def finish(self) -> None:
        for n in list(self.sockets):
            self._close(n, 0, 0)


@pytest.mark.slow
def test_interleavings_never_raise_nor_leak_a_subscription(stage: Stage) -> None:
    @_fuzz_settings()
    @given(st.lists(STEP, min_size=3, max_size=14))
    def run(steps: list[tuple[Any, ...]]) -> None:
        script = Script(stage)
        try:
            for step in steps:
                script.run(step)
        finally:
            script.finish()

    run()
    for kind in ("open", "connect", "subscribe", "send", "close", "late-sent", "remove"):
        assert stage.steps.get(kind, 0) > EXAMPLES // 10, stage.steps
