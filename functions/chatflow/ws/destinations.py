"""STOMP destinations (docs/protocol.md §3), parsed once into typed values."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

NOTIFICATIONS = "/user/queue/notifications"
ERRORS = "/user/queue/errors"
USER_QUEUES = frozenset({NOTIFICATIONS, ERRORS})

# \Z, not $: "$" also matches before a final newline, and a STOMP header may hold one
# (escaped as \n), which would then travel into the subscription and every MESSAGE.
_ROOM_SEND = re.compile(r"^/app/rooms/([0-9a-fA-F-]{36})(/typing)?\Z")
_ROOM_TOPIC = re.compile(r"^/topic/rooms/([0-9a-fA-F-]{36})\Z")


@dataclass(frozen=True, slots=True)
class SendTarget:
    room_id: uuid.UUID
    typing: bool


def send_target(destination: str) -> SendTarget | None:
    match = _ROOM_SEND.match(destination)
    if match is None:
        return None
    try:
        return SendTarget(uuid.UUID(match.group(1)), match.group(2) is not None)
    except ValueError:
        return None


def room_topic(destination: str) -> uuid.UUID | None:
    match = _ROOM_TOPIC.match(destination)
    if match is None:
        return None
    try:
        return uuid.UUID(match.group(1))
    except ValueError:
        return None


def topic_of(room_id: uuid.UUID | str) -> str:
    return f"/topic/rooms/{room_id}"
