"""The STOMP 1.2 frame value type, the command sets and server-frame constructors.

A frame is kept exactly as the wire grammar describes it (STOMP 1.2, "STOMP Frames"):
a command, an *ordered* list of headers that may repeat a name, and a body of octets.
Headers stay a list rather than a dict because the spec gives meaning to order:
"If a client or a server receives repeated frame header entries, only the first
header entry SHOULD be used as the value of header entry" - so lookups are
first-wins (:meth:`Frame.header`) while serialization keeps every entry.

The module only imports ``collections.abc`` so that importing it costs nothing
measurable at Lambda cold start.
"""

from __future__ import annotations

from collections.abc import Iterable

CLIENT_COMMANDS: frozenset[str] = frozenset(
    {
        "CONNECT",
        "STOMP",
        "SEND",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "ACK",
        "NACK",
        "BEGIN",
        "COMMIT",
        "ABORT",
        "DISCONNECT",
    }
)
"""Frames a client may send (STOMP 1.2, "Client Frames")."""

SERVER_COMMANDS: frozenset[str] = frozenset({"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"})
"""Frames a server may send (STOMP 1.2, "Server Frames")."""

COMMANDS: frozenset[str] = CLIENT_COMMANDS | SERVER_COMMANDS
"""Every command the codec accepts in either direction."""

BODY_COMMANDS: frozenset[str] = frozenset({"SEND", "MESSAGE", "ERROR"})
"""Spec: "Only the SEND, MESSAGE, and ERROR frames MAY have a body. All other frames
MUST NOT have a body." The codec rejects a body on any other command."""

UNESCAPED_COMMANDS: frozenset[str] = frozenset({"CONNECT", "CONNECTED"})
"""Spec: "The CONNECT and CONNECTED frames do not escape the carriage return, line feed
or colon octets in order to remain backward compatible with STOMP 1.0" - their header
values are never escaped nor unescaped, whatever the negotiated version."""

TEXT_PLAIN_UTF8 = "text/plain;charset=utf-8"

Header = tuple[str, str]


class Frame:
    """One STOMP frame: ``command``, ordered ``headers`` and ``body`` octets.

    ``headers`` is a plain list so the session layer can append before sending; the
    class is a ``__slots__`` object (not a dataclass) because one is built for every
    WebSocket message and the attribute layout keeps that cheap.
    """

    __slots__ = ("body", "command", "headers")

    command: str
    headers: list[Header]
    body: bytes

    def __init__(
        self,
        command: str,
        headers: Iterable[Header] = (),
        body: bytes = b"",
    ) -> None:
        self.command = command
        self.headers = list(headers)
        self.body = body

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return the value of the *first* header called ``name``, else ``default``.

        First-wins is the spec rule for repeated headers ("Repeated Header Entries").
        A linear scan is faster than building a dict for the handful of headers a
        frame carries.
        """
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (
            self.command == other.command
            and self.headers == other.headers
            and self.body == other.body
        )

    __hash__ = None  # type: ignore[assignment]  # headers are mutable: not hashable

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 64 else self.body[:64] + b"..."
        return f"Frame({self.command!r}, {self.headers!r}, {body!r})"


def _body_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def _one_line(text: str) -> str:
    """Flatten ``text`` to one line: an ERROR ``message`` header must stay a single line
    even on a STOMP 1.0 session, where header values are not escaped."""
    return " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text


def connected(
    version: str = "1.2",
    *,
    heart_beat: tuple[int, int] = (0, 0),
    session: str | None = None,
    server: str | None = None,
    headers: Iterable[Header] = (),
) -> Frame:
    """Build a CONNECTED frame (spec "CONNECTED Frame").

    ``version`` is REQUIRED from 1.1 on; ``heart-beat`` is always sent so the client
    never has to assume the ``0,0`` default. ``session`` and ``server`` are optional.
    """
    hdrs: list[Header] = [("version", version), ("heart-beat", f"{heart_beat[0]},{heart_beat[1]}")]
    if session is not None:
        hdrs.append(("session", session))
    if server is not None:
        hdrs.append(("server", server))
    hdrs.extend(headers)
    return Frame("CONNECTED", hdrs)


def receipt(receipt_id: str, headers: Iterable[Header] = ()) -> Frame:
    """Build a RECEIPT frame; ``receipt-id`` echoes the client's ``receipt`` header
    (spec "RECEIPT Frame")."""
    return Frame("RECEIPT", [("receipt-id", receipt_id), *headers])


def error(
    message: str,
    receipt_id: str | None = None,
    body: bytes | str = "",
    *,
    headers: Iterable[Header] = (),
) -> Frame:
    """Build an ERROR frame (spec "ERROR Frame").

    The spec says the frame "SHOULD contain a message header with a short description
    of the error", carries ``receipt-id`` when the offending frame asked for a receipt,
    and SHOULD have ``content-type`` when there is a body. ``message`` is flattened to
    one line so it is representable even without header escaping.
    """
    hdrs: list[Header] = [("message", _one_line(message))]
    if receipt_id is not None:
        hdrs.append(("receipt-id", receipt_id))
    data = _body_bytes(body)
    if data:
        hdrs.append(("content-type", TEXT_PLAIN_UTF8))
    hdrs.extend(headers)
    return Frame("ERROR", hdrs, data)


def message(
    destination: str,
    subscription: str,
    message_id: str,
    body: bytes | str,
    headers: Iterable[Header] = (),
) -> Frame:
    """Build a MESSAGE frame (spec "MESSAGE Frame").

    ``destination``, ``message-id`` and ``subscription`` are REQUIRED by the spec.
    Extra headers (``content-type``, ``ack``, application headers) follow them.
    ``content-length`` is added by the serializer.
    """
    hdrs: list[Header] = [
        ("destination", destination),
        ("message-id", message_id),
        ("subscription", subscription),
        *headers,
    ]
    return Frame("MESSAGE", hdrs, _body_bytes(body))
