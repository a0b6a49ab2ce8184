"""STOMP 1.2 wire codec: the frame type, parser and serializer (stdlib only).

``parse`` turns one WebSocket message (``str`` or ``bytes``) into frames plus a
heart-beat count; ``serialize`` / ``serialize_text`` produce wire data. Malformed
input only ever raises :class:`StompProtocolError`.
"""

from chatflow.stomp.codec import (
    DEFAULT_LIMITS,
    MAX_BODY_BYTES,
    MAX_FRAME_BYTES,
    MAX_HEADER_LINE_BYTES,
    MAX_HEADERS,
    Limits,
    ParseResult,
    StompProtocolError,
    parse,
    serialize,
    serialize_text,
)
from chatflow.stomp.frame import (
    BODY_COMMANDS,
    CLIENT_COMMANDS,
    COMMANDS,
    SERVER_COMMANDS,
    UNESCAPED_COMMANDS,
    Frame,
    Header,
    connected,
    error,
    message,
    receipt,
)

__all__ = [
    "BODY_COMMANDS",
    "CLIENT_COMMANDS",
    "COMMANDS",
    "DEFAULT_LIMITS",
    "MAX_BODY_BYTES",
    "MAX_FRAME_BYTES",
    "MAX_HEADERS",
    "MAX_HEADER_LINE_BYTES",
    "SERVER_COMMANDS",
    "UNESCAPED_COMMANDS",
    "Frame",
    "Header",
    "Limits",
    "ParseResult",
    "StompProtocolError",
    "connected",
    "error",
    "message",
    "parse",
    "receipt",
    "serialize",
    "serialize_text",
]
