"""Fuzzing of the STOMP codec: whatever arrives, ``parse`` returns frames or raises
:class:`StompProtocolError` (never anything else), every error can be sent back as an
ERROR frame, and every frame that parses serializes and parses back to itself.

Hypothesis draws a seed per example and ``random.Random(seed)`` derives ``_BATCH`` inputs
from it (a plain seeded generator: Hypothesis-backed randomness costs a draw per call).
The codec parses a frame in tens of microseconds, so one Hypothesis example per input
would spend nearly all of the time in Hypothesis itself. A failure names the seed and the
exact input. Each test counts the inputs it really parsed and asserts the count, so the
advertised number of cases cannot silently shrink (``docs/reliability.md``).

The default run parses 60,000 arbitrary inputs and 40,000 mutated valid frames (plus
2,000 unmutated ones); the ``campaign`` profile (``HYPOTHESIS_PROFILE=campaign``) parses
2,000,000 of each kind.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chatflow.stomp import (
    BODY_COMMANDS,
    COMMANDS,
    UNESCAPED_COMMANDS,
    Frame,
    Limits,
    StompProtocolError,
    error,
    parse,
    serialize,
)

pytestmark = pytest.mark.unit

_BATCH = 200
"""Inputs derived from one Hypothesis example."""

ARBITRARY_CASES = 60_000
MUTATED_CASES = 40_000

ROOMY = Limits(
    max_frame_bytes=1 << 24,
    max_headers=1 << 12,
    max_header_line_bytes=1 << 20,
    max_body_bytes=1 << 24,
)


def _examples(cases: int) -> int:
    """Examples for ``cases`` inputs under the default profile; any other profile (the
    long ``campaign``) asks for more: a tenth of its ``max_examples``, each ``_BATCH``
    inputs (100,000 examples -> 2,000,000 inputs per test)."""
    default = -(-cases // _BATCH)
    if settings.get_current_profile_name() == "default":
        return default
    return max(default, settings().max_examples // 10)


def _fuzz_settings(cases: int) -> settings:
    return settings(
        max_examples=_examples(cases),
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


class Counter:
    """How many inputs a test parsed (and how many of them were frames)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.inputs = 0
        self.parsed = 0
        self.errors = 0


# ------------------------------------------------------------------------ the oracle


def check(data: bytes | str, escape: bool, limits: Limits, counter: Counter) -> None:
    """Parse ``data``; only frames or StompProtocolError, and each outcome is usable."""
    counter.inputs += 1
    try:
        result = parse(data, escape, limits=limits)
    except StompProtocolError as exc:
        counter.errors += 1
        _check_error(exc, data)
        return
    except Exception as exc:  # the property under test: nothing else may escape
        raise AssertionError(f"{type(exc).__name__} escaped parse({data!r}, {escape})") from exc
    counter.parsed += 1
    assert result.heartbeats >= 0
    for frame in result.frames:
        assert frame.command in COMMANDS, data
        assert len(frame.body) <= limits.max_body_bytes, data
        assert len(frame.headers) <= limits.max_headers, data
        assert not frame.body or frame.command in BODY_COMMANDS, data
        _check_round_trip(frame, escape, data)


def _check_error(exc: StompProtocolError, data: bytes | str) -> None:
    """The message fits one ERROR header line, and the ERROR frame can be sent."""
    assert exc.message, data
    assert "\n" not in exc.message and "\r" not in exc.message, (exc.message, data)
    wire = serialize(error(f"malformed frame: {exc.message}"))
    (reply,) = parse(wire, limits=ROOMY).frames
    assert reply.header("message") == f"malformed frame: {exc.message}"


def _check_round_trip(frame: Frame, escape: bool, data: bytes | str) -> None:
    """``parse(serialize(f)) == f``, plus the content-length the serializer adds: every
    frame the parser returns can be sent again exactly (a ``ValueError`` fails the test)."""
    wire = serialize(frame, escape)
    (again,) = parse(wire, escape, limits=ROOMY).frames
    expected = list(frame.headers)
    if frame.body and frame.header("content-length") is None:
        expected.append(("content-length", str(len(frame.body))))
    assert again.command == frame.command, data
    assert again.headers == expected, data
    assert again.body == frame.body, data
    assert serialize(again, escape) == wire, data


def _run(rng: random.Random, make: Callable[[random.Random], bytes | str], c: Counter) -> None:
    for _ in range(_BATCH):
        data = make(rng)
        escape = rng.random() < 0.8
        limits = DEFAULT if rng.random() < 0.7 else _small_limits(rng)
        check(data, escape, limits, c)


DEFAULT = Limits()


def _small_limits(rng: random.Random) -> Limits:
    return Limits(
        max_frame_bytes=rng.randrange(0, 400),
        max_headers=rng.randrange(0, 8),
        max_header_line_bytes=rng.randrange(0, 80),
        max_body_bytes=rng.randrange(0, 300),
    )


# ------------------------------------------------------------------ arbitrary input

_TOKENS = [
    *(c.encode() for c in sorted(COMMANDS)),
    b"\n",
    b"\r\n",
    b"\r",
    b"\x00",
    b":",
    b"\\",
    b"\\n",
    b"\\c",
    b"\\r",
    b"\\\\",
    b"\\t",
    b"content-length:",
    b"destination:/app/rooms/x",
    b"receipt:",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x91\x8b",
    b"0",
    b"9",
    b"-1",
]


def _arbitrary_bytes(rng: random.Random) -> bytes:
    size = rng.choice((0, 1, 2, 8, 40, 200, 400))
    if rng.random() < 0.5:
        return rng.randbytes(rng.randrange(size + 1))
    return b"".join(rng.choice(_TOKENS) for _ in range(rng.randrange(size // 2 + 1)))


_TEXT_POOL = (
    "SEND\nCONNECT\nSTOMP\nMESSAGE\nERROR\n\r\n\x00:\\ncr\\c\\\\content-length:éß€👋\u2028"
    "\ud800\udfff\x85\x0b\x0c\u202e"
)


def _arbitrary_text(rng: random.Random) -> str:
    size = rng.choice((0, 1, 4, 30, 150, 300))
    if rng.random() < 0.5:
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(size + 1)))
    return "".join(rng.choice(_TEXT_POOL) for _ in range(rng.randrange(size + 1)))


def _arbitrary(rng: random.Random) -> bytes | str:
    return _arbitrary_bytes(rng) if rng.random() < 0.5 else _arbitrary_text(rng)


# ------------------------------------------------------------ mutated valid frames

_COMMAND_LIST = sorted(COMMANDS)
_HEADER_CHARS = "abcdexyz-/:\\\n\r é€👋0123456789"


def _header_text(rng: random.Random, min_size: int) -> str:
    return "".join(rng.choice(_HEADER_CHARS) for _ in range(rng.randrange(min_size, 12)))


def valid_frame(rng: random.Random) -> tuple[Frame, bool]:
    """A frame the serializer takes, and whether its headers are escaped on the wire."""
    command = rng.choice(_COMMAND_LIST)
    escaped = rng.random() < 0.8
    raw = not escaped or command in UNESCAPED_COMMANDS
    headers = []
    for _ in range(rng.randrange(6)):
        name = _header_text(rng, 1)
        value = _header_text(rng, 0)
        if raw:
            name = name.replace(":", "").replace("\n", "").replace("\r", "") or "h"
            value = value.replace("\n", "").replace("\r", "")
        if name != "content-length":
            headers.append((name, value))
    body = b""
    if command in BODY_COMMANDS:
        body = rng.choice((b"", rng.randbytes(rng.randrange(60)), b'{"body":"hi"}', b"a\x00b"))
    return Frame(command, headers, body), escaped


_BAD_LENGTHS = [
    "99999999999999999999",
    "1" * 5000,
    "-1",
    "+5",
    " 5",
    "5 ",
    "0x10",
    "\uff15",
    "\u0663",
    "",
    "1e3",
    "32768",
    "32769",
    "00000000000000000000000001",
]
_BAD_ESCAPES = [b"\\t", b"\\", b"\\x", b"\\\\\\", b"\\C", b"\\0"]


def _relength(rng: random.Random, data: bytes) -> bytes:
    """Rewrite the serializer's content-length: zero-padded, one off, or zero."""
    start = data.find(b"content-length:")
    if start < 0:
        return data
    start += len(b"content-length:")
    end = data.find(b"\n", start)
    if end < 0:  # an earlier mutation cut the line's end off
        return data
    if not data[start:end].isdigit() or end - start > 9:  # an earlier mutation put one first
        return data
    length = int(data[start:end])
    value = rng.choice((b"0" * rng.randrange(1, 30) + str(length).encode(), b"0"))
    if rng.random() < 0.3:
        value = str(max(0, length + rng.choice((-1, 1)))).encode()
    return data[:start] + value + data[end:]


def _flip(rng: random.Random, data: bytes, at: int) -> bytes:
    if not data:
        return data
    pos = min(at, len(data) - 1)
    return data[:pos] + bytes([data[pos] ^ (1 << rng.randrange(8))]) + data[pos + 1 :]


def _duplicate_line(rng: random.Random, data: bytes, at: int) -> bytes:
    lines = data.split(b"\n")
    lines.insert(rng.randrange(len(lines)), lines[rng.randrange(len(lines))])
    return b"\n".join(lines)


def _hostile_length(rng: random.Random, data: bytes, at: int) -> bytes:
    line = data.find(b"\n") + 1
    value = rng.choice(_BAD_LENGTHS).encode()
    return data[:line] + b"content-length:" + value + b"\n" + data[line:]


def _eols(rng: random.Random, data: bytes, at: int) -> bytes:
    return data.replace(b"\n", b"\r\n", 1) if rng.random() < 0.5 else data.replace(b"\n", b"")


_MUTATIONS: list[Callable[[random.Random, bytes, int], bytes]] = [
    _flip,
    lambda rng, data, at: data[:at],  # truncation
    lambda rng, data, at: data[:at] + data[at + rng.randrange(1, 8) :],  # a span deleted
    _duplicate_line,
    lambda rng, data, at: data[:at] + rng.choice(_BAD_ESCAPES) + data[at:],
    _hostile_length,
    lambda rng, data, at: data[:at] + rng.choice(_TOKENS) + data[at:],  # a special octet
    _eols,
    lambda rng, data, at: data + rng.choice((b"\n", b"\r\n\n", data, b"SEND\n\n\x00")),
    lambda rng, data, at: data.replace(b"\x00", b"", 1),  # the terminator removed
    lambda rng, data, at: _relength(rng, data),
]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    """One of: bit flip, truncation, deletion, a duplicated (header) line, a bad escape,
    a hostile content-length, a special octet, EOL changes, glued frames, no NULL, or a
    zero-padded / one-off content-length."""
    return rng.choice(_MUTATIONS)(rng, data, rng.randrange(len(data) + 1))


def _mutated(rng: random.Random) -> bytes | str:
    frame, escaped = valid_frame(rng)
    data = serialize(frame, escaped)
    for _ in range(rng.randrange(1, 4)):
        data = _mutate(rng, data)
    if rng.random() < 0.3:
        return data.decode("utf-8", "replace")
    return data


# --------------------------------------------------------------------------- tests


_SEEDS = st.integers(min_value=0, max_value=2**64 - 1)


@settings(_fuzz_settings(ARBITRARY_CASES))
@given(_SEEDS)
def _fuzz_arbitrary(seed: int) -> None:
    _run(random.Random(seed), _arbitrary, _ARBITRARY)


@settings(_fuzz_settings(MUTATED_CASES))
@given(_SEEDS)
def _fuzz_mutated(seed: int) -> None:
    _run(random.Random(seed), _mutated, _MUTATED)


_ARBITRARY = Counter()
_MUTATED = Counter()


def test_arbitrary_bytes_and_text_give_frames_or_protocol_error() -> None:
    _ARBITRARY.reset()
    _fuzz_arbitrary()
    assert _ARBITRARY.inputs >= ARBITRARY_CASES
    assert _ARBITRARY.errors > 0 and _ARBITRARY.parsed > 0


def test_mutated_frames_give_frames_or_protocol_error_and_round_trip() -> None:
    _MUTATED.reset()
    _fuzz_mutated()
    assert _MUTATED.inputs >= MUTATED_CASES
    # A mutation leaves a good share of frames valid, so the round trip is really exercised.
    assert _MUTATED.parsed > MUTATED_CASES // 20
    assert _MUTATED.errors > MUTATED_CASES // 20


def test_unmutated_frames_always_round_trip() -> None:
    """The generator itself: a frame it builds always parses back (else the mutation
    test would be fuzzing noise)."""
    rng = random.Random(7)
    counter = Counter()
    for _ in range(2_000):
        frame, escaped = valid_frame(rng)
        check(serialize(frame, escaped), escaped, ROOMY, counter)
    assert counter.parsed == counter.inputs == 2_000
