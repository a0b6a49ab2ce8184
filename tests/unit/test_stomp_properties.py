"""Property tests of the STOMP codec: round trips, robustness, frame streams.

Example counts: when the active Hypothesis profile is the built-in ``default``, each
property runs ``_DEFAULT_EXAMPLES`` examples; any other profile loaded by the project
(``settings.load_profile(...)`` in a conftest, e.g. a larger CI profile) wins.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatflow.stomp import (
    BODY_COMMANDS,
    COMMANDS,
    UNESCAPED_COMMANDS,
    Frame,
    Limits,
    StompProtocolError,
    parse,
    serialize,
    serialize_text,
)

pytestmark = pytest.mark.unit

_DEFAULT_EXAMPLES = 300


def _max_examples() -> int:
    loaded = settings()  # a fresh settings() inherits the loaded profile
    # get_current_profile_name() only exists in recent Hypothesis releases; before it,
    # a profile that keeps the stock 100 examples is taken for the default one.
    name_of = getattr(settings, "get_current_profile_name", None)
    is_default = name_of() == "default" if name_of else loaded.max_examples == 100
    return _DEFAULT_EXAMPLES if is_default else loaded.max_examples


PROPERTY = settings(
    deadline=None,
    max_examples=_max_examples(),
    suppress_health_check=[HealthCheck.too_slow],
)

# Big enough that no generated frame hits a limit in the round-trip properties.
ROOMY = Limits(
    max_frame_bytes=1 << 24,
    max_headers=1 << 12,
    max_header_line_bytes=1 << 20,
    max_body_bytes=1 << 24,
)

_SPECIALS = st.sampled_from(":\n\r\\cnrt\x00é👋")
# Every code point UTF-8 can encode (surrogates cannot be), as STOMP headers are UTF-8.
_ANY_CHAR = st.characters(exclude_categories=["Cs"])
# Characters that must be escaped, and the letters of escape sequences, are drawn often
# on purpose so that look-alikes such as a literal backslash-c show up.
_ESCAPED_TEXT = st.text(st.one_of(_SPECIALS, _ANY_CHAR), max_size=10)
_ESCAPED_NAME = st.text(st.one_of(_SPECIALS, _ANY_CHAR), min_size=1, max_size=8)
_RAW_VALUE = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=10
)
_RAW_NAME = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters=":\r\n"), min_size=1, max_size=12
)


def _not_length(name: str) -> bool:
    return name != "content-length"


# Built once: strategies constructed inside a composite are re-validated on every draw.
_ESCAPED_HEADERS = st.lists(st.tuples(_ESCAPED_NAME.filter(_not_length), _ESCAPED_TEXT), max_size=6)
_RAW_HEADERS = st.lists(st.tuples(_RAW_NAME.filter(_not_length), _RAW_VALUE), max_size=6)
_COMMAND = st.sampled_from(sorted(COMMANDS))
_BODY = st.binary(max_size=200)


@st.composite
def frames(draw: st.DrawFn, *, escape: bool = True) -> Frame:
    """Any frame the serializer accepts, without a content-length header."""
    command = draw(_COMMAND)
    escaped = escape and command not in UNESCAPED_COMMANDS
    headers = draw(_ESCAPED_HEADERS if escaped else _RAW_HEADERS)
    body = draw(_BODY) if command in BODY_COMMANDS else b""
    return Frame(command, headers, body)


def _assert_same(parsed: Frame, original: Frame) -> None:
    """``parse(serialize(f))`` is ``f`` plus the content-length the serializer appends."""
    assert parsed.command == original.command
    assert parsed.body == original.body
    expected = list(original.headers)
    if original.body:
        expected.append(("content-length", str(len(original.body))))
    assert parsed.headers == expected


# ------------------------------------------------------------------ (1) round trip


@PROPERTY
@given(frames())
def test_round_trip_escaped(frame: Frame) -> None:
    result = parse(serialize(frame), limits=ROOMY)
    assert result.heartbeats == 0
    assert len(result.frames) == 1
    _assert_same(result.frames[0], frame)


@PROPERTY
@given(frames(escape=False))
def test_round_trip_unescaped_stomp_10(frame: Frame) -> None:
    result = parse(serialize(frame, escape=False), escape=False, limits=ROOMY)
    assert len(result.frames) == 1
    _assert_same(result.frames[0], frame)


@PROPERTY
@given(frames())
def test_round_trip_is_stable(frame: Frame) -> None:
    """A parsed frame already carries its content-length: re-serializing is a no-op."""
    wire = serialize(frame)
    (parsed,) = parse(wire, limits=ROOMY).frames
    assert serialize(parsed) == wire


@PROPERTY
@given(frames())
def test_text_serialization_matches_bytes(frame: Frame) -> None:
    try:
        frame.body.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(ValueError, match="not UTF-8"):
            serialize_text(frame)
        return
    text = serialize_text(frame)
    assert text.encode("utf-8") == serialize(frame)
    assert parse(text, limits=ROOMY) == parse(serialize(frame), limits=ROOMY)


# ------------------------------------------------------------------ (2) robustness

_LIMITS = st.builds(
    Limits,
    max_frame_bytes=st.integers(0, 300),
    max_headers=st.integers(0, 6),
    max_header_line_bytes=st.integers(0, 60),
    max_body_bytes=st.integers(0, 200),
)
_NOISE = st.sampled_from(
    [b"\x00", b"\n", b"\r\n", b"\r", b":", b"\\", b"\\t", b"\xff", b"\xc3", b"content-length:"]
)


def _parse_or_protocol_error(data: bytes | str, escape: bool, limits: Limits) -> None:
    try:
        result = parse(data, escape, limits=limits)
    except StompProtocolError as exc:
        assert exc.message
        assert "\n" not in exc.message
        assert "\r" not in exc.message
        return
    assert result.heartbeats >= 0
    for frame in result.frames:
        assert frame.command in COMMANDS
        assert len(frame.body) <= limits.max_body_bytes
        assert len(frame.headers) <= limits.max_headers


@PROPERTY
@given(st.binary(max_size=400), st.booleans(), st.one_of(st.just(Limits()), _LIMITS))
def test_arbitrary_bytes_give_frames_or_protocol_error(
    data: bytes, escape: bool, limits: Limits
) -> None:
    _parse_or_protocol_error(data, escape, limits)


@PROPERTY
@given(st.text(max_size=300), st.booleans(), st.one_of(st.just(Limits()), _LIMITS))
def test_arbitrary_text_gives_frames_or_protocol_error(
    data: str, escape: bool, limits: Limits
) -> None:
    _parse_or_protocol_error(data, escape, limits)


@PROPERTY
@given(
    st.lists(frames(), min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(0, 10**6), _NOISE | st.binary(max_size=4)), max_size=4),
    st.integers(0, 10**6),
    st.booleans(),
    st.one_of(st.just(Limits()), _LIMITS),
)
def test_mutated_frames_give_frames_or_protocol_error(
    originals: list[Frame],
    insertions: list[tuple[int, bytes]],
    cut: int,
    escape: bool,
    limits: Limits,
) -> None:
    """Near-valid input reaches the deep branches random bytes rarely get to."""
    data = b"".join(serialize(frame) for frame in originals)
    for where, noise in insertions:
        at = where % (len(data) + 1)
        data = data[:at] + noise + data[at:]
    data = data[: len(data) - cut % (len(data) + 1)]
    _parse_or_protocol_error(data, escape, limits)


@PROPERTY
@given(st.one_of(st.text(max_size=300), st.lists(frames(), max_size=3)))
def test_text_and_its_utf8_bytes_parse_alike(source: str | list[Frame]) -> None:
    """API Gateway may hand over ``str``: it must mean exactly its UTF-8 octets."""
    if isinstance(source, str):
        text = source
    else:
        wire = b"".join(serialize(frame) for frame in source)
        text = wire.decode("utf-8", "replace")
    outcomes: list[object] = []
    for item in (text, text.encode("utf-8")):
        try:
            outcomes.append(parse(item))
        except StompProtocolError as exc:
            outcomes.append(exc.message)
    assert outcomes[0] == outcomes[1]


# ------------------------------------------------------------------ (3) frame streams

_EOLS = st.lists(st.sampled_from([b"\n", b"\r\n"]), max_size=3)


@PROPERTY
@given(st.lists(st.tuples(_EOLS, frames()), max_size=4), _EOLS, st.booleans())
def test_frames_with_heartbeats_parse_back(
    items: list[tuple[list[bytes], Frame]], trailing: list[bytes], as_text: bool
) -> None:
    data = b"".join(b"".join(eols) + serialize(frame) for eols, frame in items)
    data += b"".join(trailing)
    beats = sum(len(eols) for eols, _ in items) + len(trailing)
    if as_text:
        try:
            result = parse(data.decode("utf-8"), limits=ROOMY)
        except UnicodeDecodeError:  # a binary body: a text message cannot carry it
            result = parse(data, limits=ROOMY)
    else:
        result = parse(data, limits=ROOMY)
    assert result.heartbeats == beats
    assert len(result.frames) == len(items)
    for parsed, (_, original) in zip(result.frames, items, strict=True):
        _assert_same(parsed, original)
