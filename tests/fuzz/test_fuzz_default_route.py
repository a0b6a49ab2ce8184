"""Fuzzing of the ``$default`` route: ``handlers.ws_frame`` with real PostgreSQL, Valkey,
moto's DynamoDB and the recording @connections endpoint (the ``world`` fixture).

Two properties, over generated input:

1. Generated frames, each labelled by construction as acceptable or not (destination,
   headers, body, command): on a fresh connected session every acceptable frame is
   answered with its RECEIPT, and every other one with an ERROR frame (the connection is
   then closed) or, when the session subscribed to ``/user/queue/errors``, an error
   MESSAGE there that names the frame's receipt. STOMP 1.0, 1.1 and 1.2 sessions alike.
2. Raw text, arbitrary and mutated frames: the handler always returns 200, nothing is
   answered with the "internal error" ERROR (which would mean an exception reached the
   handler), and whatever the codec refuses gets exactly one ERROR and a closed connection.

Each example is real I/O (several DynamoDB, PostgreSQL and Redis round trips), so the
counts are in the hundreds: ``GENERATED_EXAMPLES`` and ``RAW_EXAMPLES`` below.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chatflow.stomp import Frame, StompProtocolError, parse, serialize
from tests.helpers.api import TestUser
from tests.helpers.ws_harness import WsClient
from tests.integration.ws_world import World

pytestmark = pytest.mark.integration

GENERATED_EXAMPLES = 300
RAW_EXAMPLES = 300
INTERNAL_ERROR = "internal error"


def _examples(default: int) -> int:
    if settings.get_current_profile_name() == "default":
        return default
    return max(default, settings().max_examples // 100)


def _fuzz_settings(default: int) -> settings:
    return settings(
        max_examples=_examples(default),
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


@dataclass
class Stage:
    """One world shared by every example: a member of a public room, and another user's
    private room to guess at."""

    world: World
    user: TestUser
    room: str
    private_room: str
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def session(self, version: str, errors_queue: bool) -> WsClient:
        client = self.world.gateway.connect(bearer=self.user.token)
        assert client is not None
        client.send("CONNECT", {"accept-version": version, "host": "chatflow"})
        assert [f.command for f in client.receive()] == ["CONNECTED"]
        headers = {"id": "room", "destination": f"/topic/rooms/{self.room}", "receipt": "s0"}
        client.send("SUBSCRIBE", headers)
        if errors_queue:
            client.send("SUBSCRIBE", {"id": "errors", "destination": "/user/queue/errors"})
        assert [f.command for f in client.receive() if f.command != "MESSAGE"] == ["RECEIPT"]
        return client


@pytest.fixture
def stage(world: World) -> Iterator[Stage]:
    user, other = world.api.user(), world.api.user()
    room = world.api.room(user)
    private_room = world.api.room(other, visibility="private")
    yield Stage(world, user, room, private_room)


def _receive(client: WsClient, escape: bool) -> list[Frame]:
    """Frames posted since the client last looked, read as the session's version writes
    them (a STOMP 1.0 session's headers are not escaped)."""
    posts = client.gateway.endpoint.delivered().get(client.connection_id, [])
    fresh = [frame for data in posts[client._seen :] for frame in parse(data, escape).frames]
    client._seen = len(posts)
    return fresh


# --------------------------------------------------------------- generated frames


@dataclass(frozen=True)
class Case:
    """A frame to send and whether the server must accept it."""

    command: str
    headers: tuple[tuple[str, str], ...]
    body: str
    ok: bool


def _message_body(rng: random.Random) -> tuple[str, bool]:
    good = [
        "hello",
        "'; DROP TABLE messages; --",
        "<script>alert(1)</script>",
        "\u202eevil\u200d",
        "x" * 4000,
    ]
    if rng.random() < 0.5:
        text = rng.choice(good)
        return json.dumps({"body": text, "clientMsgId": uuid.uuid4().hex}), True
    bad = [
        "not json",
        "[]",
        '{"body": 5}',
        '{"body": ""}',
        '{"body": "   "}',
        json.dumps({"body": "x" * 4001}),
        '{"body": "a\\u0000b"}',
        '{"body": "ding\\u0007"}',
        '{"body": "hi", "clientMsgId": 7}',
        "",
    ]
    return rng.choice(bad), False


def _send(rng: random.Random, stage: Stage) -> tuple[list[tuple[str, str]], str, bool]:
    body, body_ok = _message_body(rng)
    choice = rng.randrange(7)
    if choice == 0:
        return [("destination", f"/app/rooms/{stage.room}/typing")], "{}", True
    if choice == 1:
        return [("destination", f"/app/rooms/{uuid.uuid4()}")], body, False
    if choice == 2:
        return [("destination", f"/app/rooms/{stage.private_room}")], body, False
    if choice == 3:
        bad = rng.choice(
            ["/app/rooms/x", "/topic/rooms/" + stage.room, "", f"/app/rooms/{stage.room}\n"]
        )
        return [("destination", bad)], body, False
    if choice == 4:
        return [], body, False
    return [("destination", f"/app/rooms/{stage.room}")], body, body_ok


def _subscribe(
    rng: random.Random, stage: Stage, n: int, held: dict[str, str]
) -> tuple[list[tuple[str, str]], bool]:
    """A SUBSCRIBE, judged against ``held`` (destination -> subscription id): an id in use
    is a retry only for its own destination, and a destination already held refuses a
    second subscription under another id (one subscription per destination)."""
    destinations = [
        (f"/topic/rooms/{stage.room}", True),
        ("/user/queue/notifications", True),
        (f"/topic/rooms/{uuid.uuid4()}", False),
        (f"/topic/rooms/{stage.private_room}", False),
        ("/queue/anything", False),
        (f"/topic/rooms/{stage.room}/x", False),
    ]
    destination, ok = rng.choice(destinations)
    headers = [("destination", destination)]
    sub_id = None
    if rng.random() < 0.9:
        sub_id = rng.choice([f"sub{n}", "room"])
        headers.append(("id", sub_id))
        holder = held.get(destination)
        ids_in_use = set(held.values())
        if holder is not None:
            ok = ok and sub_id == holder
        elif sub_id in ids_in_use:
            ok = False
    else:
        ok = False
    if rng.random() < 0.3:
        since, since_ok = rng.choice(
            [("0", True), ("5", True), ("-1", False), ("x", False)]
            + [(digit, False) for digit in ("\u00b2", "\u2460", "\u0661", "\U0001d7d9", "1_0")]
        )
        headers.append(("x-since-seq", since))
        ok = ok and since_ok
    if ok and sub_id is not None:
        held[destination] = sub_id
    return headers, ok


def generated_case(rng: random.Random, stage: Stage, n: int, held: dict[str, str]) -> Case:
    kind = rng.randrange(10)
    if kind < 4:
        headers, body, ok = _send(rng, stage)
        return Case("SEND", tuple(headers), body, ok)
    if kind < 6:
        headers, ok = _subscribe(rng, stage, n, held)
        return Case("SUBSCRIBE", tuple(headers), "", ok)
    if kind == 6:
        present = rng.random() < 0.7
        return Case("UNSUBSCRIBE", (("id", "gone"),) if present else (), "", present)
    if kind == 7:
        return Case(rng.choice(["ACK", "NACK"]), (("id", "1"),), "", True)
    command = rng.choice(["BEGIN", "COMMIT", "ABORT", "MESSAGE", "RECEIPT", "ERROR", "CONNECTED"])
    return Case(command, (("transaction", "t"),), "", False)


def _wire(case: Case, receipt: str, version: str) -> str:
    """The frame as the session's version writes it; a header a STOMP 1.0 client cannot
    write (an EOL in it) goes out escaped, which such a session reads literally."""
    frame = Frame(case.command, [*case.headers, ("receipt", receipt)], case.body.encode())
    try:
        data = serialize(frame, escape=version != "1.0")
    except ValueError:
        data = serialize(frame)
    return data.decode()


@pytest.mark.slow
def test_generated_frames_get_receipt_or_error(stage: Stage) -> None:
    @_fuzz_settings(GENERATED_EXAMPLES)
    @given(st.integers(0, 2**32), st.sampled_from(["1.0", "1.1", "1.2"]), st.booleans())
    def run(seed: int, version: str, errors_queue: bool) -> None:
        rng = random.Random(seed)
        client = stage.session(version, errors_queue)
        held = {f"/topic/rooms/{stage.room}": "room"}
        if errors_queue:
            held["/user/queue/errors"] = "errors"
        cases = [generated_case(rng, stage, n, held) for n in range(rng.randrange(1, 4))]
        receipts = [f"r{n}-{seed}" for n in range(len(cases))]
        client.send_raw("".join(_wire(c, r, version) for c, r in zip(cases, receipts, strict=True)))
        replies = _receive(client, escape=version != "1.0")
        _check_replies(stage, client, cases, receipts, replies, errors_queue)
        if not client.closed:
            client.disconnect()  # one user, hundreds of sessions: stay under the user's cap

    run()
    assert stage.counts.get("accepted", 0) > GENERATED_EXAMPLES // 4
    assert stage.counts.get("refused", 0) > GENERATED_EXAMPLES // 4


def _check_replies(
    stage: Stage,
    client: WsClient,
    cases: list[Case],
    receipts: list[str],
    replies: list[Frame],
    errors_queue: bool,
) -> None:
    answers = [
        f
        for f in replies
        if f.command in ("RECEIPT", "ERROR") or f.header("subscription") == "errors"
    ]
    for case, receipt in zip(cases, receipts, strict=True):
        assert answers, (case, replies)
        answer = answers.pop(0)
        assert INTERNAL_ERROR not in (answer.header("message") or ""), (case, answer)
        if case.ok:
            stage.count("accepted")
            assert answer.command == "RECEIPT", (case, answer)
            assert answer.header("receipt-id") == receipt
            continue
        stage.count("refused")
        if answer.command == "ERROR":
            assert answer.header("message"), answer
            assert client.closed
            assert not answers, (case, answers)
            return
        assert errors_queue and answer.command == "MESSAGE", (case, answer)
        note = json.loads(answer.body)
        assert note["type"] == "error" and note["receiptId"] == receipt, note
    assert not answers, answers


# ------------------------------------------------------------------ raw input

_SEEDS_OF_FRAMES = [
    'SEND\ndestination:/app/rooms/{room}\nreceipt:a\\rb\n\n{{"body":"x"}}\x00',
    "SUBSCRIBE\nid:1\ndestination:/topic/rooms/{room}\nreceipt:x\\ny\n\n\x00",
    "SUBSCRIBE\nid:a\\cb\ndestination:/topic/rooms/{room}\\n\n\n\x00",
    "SEND\ndestination:/app/rooms/{room}\ncontent-length:999999\n\nx\x00",
    "UNSUBSCRIBE\nid:1\nreceipt:\\t\n\n\x00",
    "ACK\nid:1\n\nbody\x00",
    "DISCONNECT\nreceipt:bye\n\n\x00",
    "\n\r\n\n",
    "CONNECT\naccept-version:1.2\n\n\x00",
]
_SPECIALS = ["\x00", "\n", "\r", ":", "\\", "\\c", "\\n", "\\r", "\\t", "é", "\ud800", "\u2028"]


def raw_message(rng: random.Random, room: str) -> str:
    if rng.random() < 0.3:
        size = rng.randrange(60)
        return "".join(rng.choice([*_SPECIALS, "a", "SEND", "\n\n"]) for _ in range(size))
    data = rng.choice(_SEEDS_OF_FRAMES).format(room=room)
    for _ in range(rng.randrange(4)):
        at = rng.randrange(len(data) + 1)
        action = rng.randrange(3)
        if action == 0:
            data = data[:at] + rng.choice(_SPECIALS) + data[at:]
        elif action == 1:
            data = data[:at] + data[at + 1 :]
        else:
            data = data[:at]
    return data


@pytest.mark.slow
def test_raw_messages_never_escape_the_handler(stage: Stage) -> None:
    @_fuzz_settings(RAW_EXAMPLES)
    @given(st.integers(0, 2**32), st.sampled_from(["1.0", "1.2", None]))
    def run(seed: int, version: str | None) -> None:
        rng = random.Random(seed)
        if version is None:  # not CONNECTed yet (frames are answered: bearer on the upgrade)
            client = stage.world.gateway.connect(bearer=stage.user.token)
            assert client is not None
        else:
            client = stage.session(version, errors_queue=False)
        data = raw_message(rng, stage.room)
        client.send_raw(data)  # asserts that the handler answered {"statusCode": 200}
        replies = _receive(client, escape=version != "1.0")
        if not client.closed:
            client.disconnect()
        for frame in replies:
            assert INTERNAL_ERROR not in (frame.header("message") or ""), (data, frame)
        try:
            parse(data, escape=version != "1.0")
        except StompProtocolError:
            stage.count("malformed")
            assert [f.command for f in replies] == ["ERROR"], (data, replies)
            assert client.closed
            return
        stage.count("parsed")

    run()
    assert stage.counts.get("malformed", 0) > RAW_EXAMPLES // 5
    assert stage.counts.get("parsed", 0) > RAW_EXAMPLES // 10
