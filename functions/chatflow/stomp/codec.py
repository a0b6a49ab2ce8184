"""STOMP 1.2 parser and serializer for whole WebSocket messages.

API Gateway hands a Lambda one complete WebSocket message per invocation, so the
parser works on a finished buffer (no streaming state): a message may hold several
frames and bare EOLs between them, which are heart-beats (spec "Heart-beating":
"an end-of-line (EOL)" is sent when there is nothing else to send).

The canonical representation is ``bytes``: ``content-length`` counts octets and
a body may be binary, so ``str`` input (API Gateway's text messages) is encoded as
UTF-8 before parsing.

Every limit is enforced *while* scanning: each search for an EOL or the NULL octet
is bounded by the remaining frame / line / body budget, so a hostile 128 KiB
message costs at most one bounded scan before it is rejected. Any malformed input
raises :class:`StompProtocolError` and nothing else, whatever the bytes.
"""

from __future__ import annotations

from chatflow.stomp.frame import (
    BODY_COMMANDS,
    COMMANDS,
    UNESCAPED_COMMANDS,
    Frame,
    Header,
)

MAX_FRAME_BYTES = 32 * 1024
"""API Gateway's WebSocket frame size limit (32 KiB)."""
MAX_HEADERS = 32
MAX_HEADER_LINE_BYTES = 1024
MAX_BODY_BYTES = MAX_FRAME_BYTES
"""The body can never exceed the frame budget minus the command and header lines,
since every frame is also held to ``max_frame_bytes``."""

_CONTENT_LENGTH = "content-length"
_COMMAND_BY_BYTES: dict[bytes, str] = {c.encode("ascii"): c for c in COMMANDS}
# A command line is at most the longest command plus CR LF; looking further is waste.
_COMMAND_LINE_BYTES = max(len(c) for c in COMMANDS) + 2
_UNESCAPES: dict[str, str] = {"r": "\r", "n": "\n", "c": ":", "\\": "\\"}
_ESCAPES = str.maketrans({"\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c"})
# More digits than this cannot be a body size any limit allows (and int() of a
# 5000-digit string raises ValueError since Python 3.11's digit cap).
_MAX_LENGTH_DIGITS = 15


class StompProtocolError(Exception):
    """The peer sent something that is not valid STOMP 1.2 (or breaks a limit).

    ``message`` is short, single-line and safe to put in an ERROR frame's ``message``
    header; ``detail`` optionally carries more context for the ERROR body or logs.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        message = " ".join(message.splitlines())
        super().__init__(message)
        self.message = message
        self.detail = detail


class Limits(tuple[int, int, int, int]):
    """Parser budgets; every one is checked during the scan, not after it.

    An immutable tuple subclass rather than a ``NamedTuple``/dataclass: building
    those classes costs a few hundred microseconds of cold start for nothing.
    """

    __slots__ = ()

    def __new__(
        cls,
        *,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_headers: int = MAX_HEADERS,
        max_header_line_bytes: int = MAX_HEADER_LINE_BYTES,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> Limits:
        values = (max_frame_bytes, max_headers, max_header_line_bytes, max_body_bytes)
        if min(values) < 0:
            raise ValueError(f"limits must be non-negative: {values}")
        return super().__new__(cls, values)

    @property
    def max_frame_bytes(self) -> int:
        """Octets from the first command byte to the NULL terminator, inclusive."""
        return self[0]

    @property
    def max_headers(self) -> int:
        """Header lines per frame (repeated names count)."""
        return self[1]

    @property
    def max_header_line_bytes(self) -> int:
        """Octets in one header line, excluding its EOL."""
        return self[2]

    @property
    def max_body_bytes(self) -> int:
        """Octets in a body, excluding the NULL terminator."""
        return self[3]

    def __repr__(self) -> str:
        return (
            f"Limits(max_frame_bytes={self[0]}, max_headers={self[1]}, "
            f"max_header_line_bytes={self[2]}, max_body_bytes={self[3]})"
        )


DEFAULT_LIMITS = Limits()


class ParseResult(tuple[list[Frame], int]):
    """Frames in message order plus how many bare EOL heart-beats surrounded them.

    Unpacks as ``frames, heartbeats = parse(data)``. A message that is only
    heart-beats yields ``frames == []`` and ``heartbeats > 0``; the handler uses that
    to refresh the connection's liveness without other work.
    """

    __slots__ = ()

    def __new__(cls, frames: list[Frame], heartbeats: int) -> ParseResult:
        return super().__new__(cls, (frames, heartbeats))

    @property
    def frames(self) -> list[Frame]:
        """The parsed frames, in the order they appeared."""
        return self[0]

    @property
    def heartbeats(self) -> int:
        """How many bare EOLs (LF or CR LF) were found between or around frames."""
        return self[1]

    def __repr__(self) -> str:
        return f"ParseResult(frames={self[0]!r}, heartbeats={self[1]})"


# --------------------------------------------------------------------------- parse


def parse(
    data: bytes | bytearray | memoryview | str,
    escape: bool = True,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> ParseResult:
    """Parse every frame and heart-beat in one WebSocket message.

    ``escape`` selects STOMP 1.1+/1.2 header unescaping; pass ``False`` on a STOMP 1.0
    session, whose headers carry no escapes. CONNECT frames are never unescaped
    (spec "Value Encoding"). Raises :class:`StompProtocolError` on any invalid input.
    """
    buf = _to_bytes(data)
    frames: list[Frame] = []
    heartbeats = 0
    pos = 0
    end = len(buf)
    while True:
        pos, beats = _skip_heartbeats(buf, pos)
        heartbeats += beats
        if pos >= end:
            return ParseResult(frames, heartbeats)
        frame, pos = _parse_frame(buf, pos, escape, limits)
        frames.append(frame)


def _to_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates cannot come off a text frame
            raise StompProtocolError("message is not valid Unicode text") from exc
    return bytes(data)


def _skip_heartbeats(buf: bytes, pos: int) -> tuple[int, int]:
    """Consume EOLs (LF or CR LF) before a frame; each one is a heart-beat.

    Spec grammar: ``frame-stream = 1*( frame *EOL )`` and ``EOL = [CR] LF``.
    """
    beats = 0
    end = len(buf)
    while pos < end:
        if buf[pos] == 0x0A:
            pos += 1
        elif buf.startswith(b"\r\n", pos):
            pos += 2
        else:
            break
        beats += 1
    return pos, beats


def _parse_frame(buf: bytes, start: int, escape: bool, limits: Limits) -> tuple[Frame, int]:
    """Parse the frame at ``start``; return it and the offset just past its NULL."""
    frame_end = start + limits.max_frame_bytes  # exclusive bound for every frame octet
    command, pos = _read_command(buf, start)
    unescape = escape and command not in UNESCAPED_COMMANDS
    headers, pos = _read_headers(buf, pos, frame_end, limits, unescape)
    body, pos = _read_body(buf, pos, frame_end, _first(headers, _CONTENT_LENGTH), limits)
    if body and command not in BODY_COMMANDS:
        raise StompProtocolError(f"{command} frame must not have a body")
    return Frame(command, headers, body), pos


def _read_command(buf: bytes, start: int) -> tuple[str, int]:
    """Read the command line; only the commands of the spec are accepted."""
    stop = min(len(buf), start + _COMMAND_LINE_BYTES)
    newline = buf.find(b"\n", start, stop)
    raw = buf[start : newline if newline >= 0 else stop]
    line = raw[:-1] if raw.endswith(b"\r") else raw
    command = _COMMAND_BY_BYTES.get(line)
    if command is None:
        raise StompProtocolError(f"unknown command '{_show(line or raw)}'")
    if newline < 0:  # a known command that fits the window: the data simply ended
        raise _incomplete()
    return command, newline + 1


def _read_headers(
    buf: bytes, pos: int, frame_end: int, limits: Limits, unescape: bool
) -> tuple[list[Header], int]:
    """Read header lines up to the blank line that ends them."""
    headers: list[Header] = []
    while True:
        line, pos = _read_line(buf, pos, frame_end, limits)
        if not line:
            return headers, pos
        if len(headers) >= limits.max_headers:
            raise StompProtocolError(f"too many headers (limit {limits.max_headers})")
        headers.append(_parse_header(line, unescape))


def _read_line(buf: bytes, pos: int, frame_end: int, limits: Limits) -> tuple[bytes, int]:
    """Return the line at ``pos`` without its EOL, and the offset after the EOL.

    The LF search never looks past the line budget nor the frame budget, and the
    error says which one ran out (or that the message ended first).
    """
    max_line = limits.max_header_line_bytes
    line_end = pos + max_line + 2  # content, optional CR, LF
    stop = min(len(buf), line_end, frame_end)
    newline = buf.find(b"\n", pos, stop)
    if newline < 0:
        if stop == len(buf):
            raise _incomplete()
        if line_end <= frame_end:
            raise _line_too_long(max_line)
        raise _frame_too_large(limits)
    line = buf[pos:newline]
    if line.endswith(b"\r"):
        line = line[:-1]
    if len(line) > max_line:
        raise _line_too_long(max_line)
    return line, newline + 1


def _parse_header(line: bytes, unescape: bool) -> Header:
    """Split ``name:value`` at the first colon, decode UTF-8 and undo 1.2 escapes.

    A CR inside the line is refused (spec grammar: names and values are "any OCTET
    except CR or LF"): where nothing is escaped (CONNECT, STOMP 1.0) it could never be
    sent back, e.g. in the ``receipt-id`` that echoes it.
    """
    if b"\r" in line:
        raise StompProtocolError("malformed header line: carriage return inside a header")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StompProtocolError("header is not valid UTF-8", _show(line)) from exc
    name, colon, value = text.partition(":")
    if not colon:
        raise StompProtocolError("malformed header line: missing ':'", _show(line))
    if not name:
        raise StompProtocolError("malformed header line: empty header name", _show(line))
    if unescape:
        return _unescape(name), _unescape(value)
    return name, value


def _unescape(text: str) -> str:
    """Undo 1.2 escapes; spec: "Undefined escape sequences such as \\t MUST be treated
    as a fatal protocol error"."""
    if "\\" not in text:
        return text
    parts: list[str] = []
    pos = 0
    while (slash := text.find("\\", pos)) >= 0:
        parts.append(text[pos:slash])
        code = text[slash + 1 : slash + 2]
        replacement = _UNESCAPES.get(code)
        if replacement is None:
            if not code:
                raise StompProtocolError("incomplete escape sequence at end of header")
            raise StompProtocolError(f"undefined escape sequence '\\{_printable(code)}' in header")
        parts.append(replacement)
        pos = slash + 2
    parts.append(text[pos:])
    return "".join(parts)


def _read_body(
    buf: bytes, pos: int, frame_end: int, length_text: str | None, limits: Limits
) -> tuple[bytes, int]:
    """Read the body and its NULL terminator; return the body and the offset after.

    Spec: with ``content-length`` "that number of octets MUST be read, regardless of
    whether or not there are NULL octets in the body", and the frame "MUST be
    terminated with a NULL octet"; without it the body ends at the first NULL.
    """
    if length_text is None:
        nul = _find_nul(buf, pos, frame_end, limits)
    else:
        nul = _check_length(buf, pos, frame_end, length_text, limits)
    return buf[pos:nul], nul + 1


def _find_nul(buf: bytes, pos: int, frame_end: int, limits: Limits) -> int:
    """Index of the NULL ending a body without ``content-length``, within budgets."""
    max_body = limits.max_body_bytes
    body_end = pos + max_body + 1  # exclusive bound for the NULL's index
    stop = min(len(buf), body_end, frame_end)
    nul = buf.find(b"\0", pos, stop)
    if nul >= 0:
        return nul
    if stop == len(buf):
        raise _incomplete()
    if body_end <= frame_end:
        raise _body_too_large(max_body)
    raise _frame_too_large(limits)


def _check_length(buf: bytes, pos: int, frame_end: int, text: str, limits: Limits) -> int:
    """Validate ``content-length`` against the budgets; return the NULL's index."""
    length = _content_length(text, limits.max_body_bytes)
    nul = pos + length
    if nul >= frame_end:
        raise _frame_too_large(limits)
    if nul >= len(buf):
        raise _incomplete()
    if buf[nul] != 0:
        raise StompProtocolError("frame body is not followed by a NULL octet at content-length")
    return nul


def _content_length(text: str, max_body: int) -> int:
    """Parse ``content-length``: a non-negative decimal integer (spec "Standard Headers")."""
    if not (text.isascii() and text.isdigit()):
        raise StompProtocolError("invalid content-length", _show(text.encode("utf-8")))
    digits = text.lstrip("0")
    if len(digits) > _MAX_LENGTH_DIGITS or int(digits or "0") > max_body:
        raise _body_too_large(max_body)
    return int(digits or "0")


def _first(headers: list[Header], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _show(raw: bytes) -> str:
    """Render untrusted octets for an error message: one line, at most ~40 chars."""
    text = _printable(raw[:40].decode("utf-8", "backslashreplace"))
    return text + "..." if len(raw) > 40 else text


def _printable(text: str) -> str:
    """Escape control characters (CR, LF, NUL...) so the text fits in a header value."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _incomplete() -> StompProtocolError:
    return StompProtocolError("incomplete frame: missing NULL terminator")


def _line_too_long(limit: int) -> StompProtocolError:
    return StompProtocolError(f"header line too long (limit {limit} bytes)")


def _body_too_large(limit: int) -> StompProtocolError:
    return StompProtocolError(f"frame body too large (limit {limit} bytes)")


def _frame_too_large(limits: Limits) -> StompProtocolError:
    return StompProtocolError(f"frame too large (limit {limits.max_frame_bytes} bytes)")


# ----------------------------------------------------------------------- serialize


def serialize(frame: Frame, escape: bool = True) -> bytes:
    """Encode ``frame`` as wire octets, NULL-terminated.

    A non-empty body gets a ``content-length`` header when the frame has none: the
    spec says frames "SHOULD include a content-length header" and it is the only way a
    body containing NULL octets survives. Header names and values are escaped unless
    ``escape`` is False (STOMP 1.0 session) or the command is CONNECT/CONNECTED.
    Raises ``ValueError`` for a frame that cannot be represented (a programming error,
    not a peer's): unknown command, body on a bodiless command, wrong content-length,
    empty header name, or CR/LF/':' that would have to go out unescaped.
    """
    return _head(frame, escape).encode("utf-8") + frame.body + b"\0"


def serialize_text(frame: Frame, escape: bool = True) -> str:
    """Like :func:`serialize` but as ``str`` for a text WebSocket message.

    The body must be UTF-8 (``ValueError`` otherwise); ``content-length`` still counts
    its octets, which is what the client measures after decoding the text frame.
    """
    try:
        body = frame.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("frame body is not UTF-8; send it as bytes") from exc
    return _head(frame, escape) + body + "\0"


def _head(frame: Frame, escape: bool) -> str:
    """Command line, header lines and the blank line, as text."""
    command = frame.command
    if command not in COMMANDS:
        raise ValueError(f"unknown STOMP command {command!r}")
    body_length = len(frame.body)
    if body_length and command not in BODY_COMMANDS:
        raise ValueError(f"{command} frame must not have a body")
    escaped = escape and command not in UNESCAPED_COMMANDS
    lines = [command]
    lines.extend(_header_line(name, value, escaped) for name, value in frame.headers)
    declared = frame.header(_CONTENT_LENGTH)
    if declared is None:
        if body_length:
            lines.append(f"{_CONTENT_LENGTH}:{body_length}")
    elif not _declares(declared, body_length):
        raise ValueError(f"content-length {declared!r} does not match body ({body_length})")
    lines.append("\n")
    return "\n".join(lines)


def _declares(declared: str, body_length: int) -> bool:
    """Whether ``declared`` is a content-length of ``body_length``; leading zeros are
    allowed, as the parser allows them, so every frame it returns can be sent again."""
    if not (declared.isascii() and declared.isdigit()):
        return False
    return (declared.lstrip("0") or "0") == str(body_length)


def _header_line(name: str, value: str, escaped: bool) -> str:
    if not name:
        raise ValueError("empty header name")
    _check_encodable(name)
    _check_encodable(value)
    if escaped:
        return f"{name.translate(_ESCAPES)}:{value.translate(_ESCAPES)}"
    if ":" in name or _has_eol(name) or _has_eol(value):
        raise ValueError(f"header {name!r} cannot be sent unescaped")
    return f"{name}:{value}"


def _has_eol(text: str) -> bool:
    return "\n" in text or "\r" in text


def _check_encodable(text: str) -> None:
    """Reject lone surrogates here so ``serialize`` only ever raises ``ValueError``."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"header text {text!r} is not encodable as UTF-8") from exc
