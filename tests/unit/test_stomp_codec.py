"""Example-based tests of the STOMP 1.2 codec, one group per rule of the spec."""

from __future__ import annotations

import pytest

from chatflow.stomp import (
    BODY_COMMANDS,
    CLIENT_COMMANDS,
    COMMANDS,
    DEFAULT_LIMITS,
    SERVER_COMMANDS,
    Frame,
    Limits,
    ParseResult,
    StompProtocolError,
    connected,
    error,
    message,
    parse,
    receipt,
    serialize,
    serialize_text,
)

pytestmark = pytest.mark.unit


def parse_one(data: bytes | str, *, escape: bool = True, limits: Limits = DEFAULT_LIMITS) -> Frame:
    frames, _ = parse(data, escape, limits=limits)
    assert len(frames) == 1
    return frames[0]


def protocol_error(
    data: bytes | str, *, escape: bool = True, limits: Limits = DEFAULT_LIMITS
) -> StompProtocolError:
    with pytest.raises(StompProtocolError) as info:
        parse(data, escape, limits=limits)
    return info.value


# ------------------------------------------------------------------ frame grammar


def test_parses_command_headers_and_body() -> None:
    frame = parse_one(b"SEND\ndestination:/topic/room.1\ncontent-type:text/plain\n\nhello\x00")
    assert frame == Frame(
        "SEND",
        [("destination", "/topic/room.1"), ("content-type", "text/plain")],
        b"hello",
    )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_of_the_spec_is_accepted(command: str) -> None:
    assert parse_one(f"{command}\n\n\x00").command == command


def test_command_sets() -> None:
    assert CLIENT_COMMANDS.isdisjoint(SERVER_COMMANDS)
    assert {"CONNECT", "STOMP", "DISCONNECT"} <= CLIENT_COMMANDS
    assert {"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"} == SERVER_COMMANDS
    assert {"SEND", "MESSAGE", "ERROR"} == BODY_COMMANDS


def test_crlf_and_lf_eols_are_equivalent() -> None:
    lf = parse_one(b"SEND\ndestination:/a\nx:1\n\nbody\x00")
    crlf = parse_one(b"SEND\r\ndestination:/a\r\nx:1\r\n\r\nbody\x00")
    mixed = parse_one(b"SEND\r\ndestination:/a\nx:1\r\n\nbody\x00")
    assert lf == crlf == mixed


def test_body_without_content_length_runs_to_first_null() -> None:
    frames, beats = parse(b"SEND\ndestination:/a\n\nab\r\ncd\x00")
    assert frames[0].body == b"ab\r\ncd"
    assert beats == 0


def test_str_input_is_encoded_as_utf8() -> None:
    frame = parse_one("SEND\ndestination:/salle/été\n\nhéllo 👋\x00")
    assert frame.header("destination") == "/salle/été"
    assert frame.body == "héllo 👋".encode()


def test_bytearray_and_memoryview_input() -> None:
    data = b"SEND\ndestination:/a\n\nx\x00"
    assert parse(bytearray(data)) == parse(memoryview(data)) == parse(data)


def test_lone_surrogate_in_str_input_is_a_protocol_error() -> None:
    assert "Unicode" in protocol_error("SEND\nx:\ud800\n\n\x00").message


def test_header_value_may_be_empty_and_may_contain_raw_colons() -> None:
    frame = parse_one(b"SEND\nempty:\nurl:http://x:80/\n\n\x00")
    assert frame.headers == [("empty", ""), ("url", "http://x:80/")]


def test_body_may_be_invalid_utf8() -> None:
    assert parse_one(b"SEND\n\n\xff\xfe\x00").body == b"\xff\xfe"


# ------------------------------------------------------------------ escaping


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        (b"a\\rb", "a\rb"),
        (b"a\\nb", "a\nb"),
        (b"a\\cb", "a:b"),
        (b"a\\\\b", "a\\b"),
        (b"\\\\n", "\\n"),
        (b"\\c\\c\\\\\\r\\n", "::\\\r\n"),
    ],
)
def test_header_values_are_unescaped(wire: bytes, value: str) -> None:
    frame = parse_one(b"SEND\nkey:" + wire + b"\n\n\x00")
    assert frame.header("key") == value


def test_header_names_are_unescaped() -> None:
    assert parse_one(b"SEND\na\\cb\\nc:v\n\n\x00").headers == [("a:b\nc", "v")]


@pytest.mark.parametrize("escape", [b"\\t", b"\\x", b"\\C", b"\\ "])
def test_undefined_escape_is_a_protocol_error(escape: bytes) -> None:
    exc = protocol_error(b"SEND\nkey:a" + escape + b"b\n\n\x00")
    assert exc.message.startswith("undefined escape sequence")
    assert escape.decode() in exc.message


def test_backslash_at_end_of_header_is_a_protocol_error() -> None:
    assert "incomplete escape" in protocol_error(b"SEND\nkey:a\\\n\n\x00").message


@pytest.mark.parametrize("command", ["CONNECT", "CONNECTED"])
def test_connect_and_connected_headers_are_not_unescaped(command: str) -> None:
    frame = parse_one(f"{command}\npasscode:a\\tb\\c\\n\n\n\x00")
    assert frame.header("passcode") == "a\\tb\\c\\n"


def test_stomp_frame_headers_are_unescaped() -> None:
    # The spec exempts only CONNECT and CONNECTED; STOMP is a 1.2 frame like any other.
    assert parse_one(b"STOMP\nlogin:a\\cb\n\n\x00").header("login") == "a:b"


def test_stomp_10_sessions_do_not_unescape() -> None:
    frame = parse_one(b"SEND\nkey:a\\tb\\c\n\n\x00", escape=False)
    assert frame.header("key") == "a\\tb\\c"


# ------------------------------------------------------------------ repeated headers


def test_first_header_wins_and_order_is_kept() -> None:
    frame = parse_one(b"MESSAGE\nfoo:World\nfoo:Hello\nbar:1\n\n\x00")
    assert frame.header("foo") == "World"
    assert frame.headers == [("foo", "World"), ("foo", "Hello"), ("bar", "1")]
    assert frame.header("missing") is None
    assert frame.header("missing", "dflt") == "dflt"


def test_first_content_length_wins() -> None:
    frame = parse_one(b"SEND\ncontent-length:2\ncontent-length:5\n\na\x00\x00")
    assert frame.body == b"a\x00"


def test_repeated_headers_survive_serialization() -> None:
    frame = Frame("SEND", [("foo", "1"), ("foo", "2")])
    assert serialize(frame) == b"SEND\nfoo:1\nfoo:2\n\n\x00"
    assert parse_one(serialize(frame)) == frame


# ------------------------------------------------------------------ content-length


def test_content_length_allows_null_octets_in_body() -> None:
    frame = parse_one(b"SEND\ncontent-length:5\n\na\x00b\x00c\x00")
    assert frame.body == b"a\x00b\x00c"


def test_content_length_zero() -> None:
    assert parse_one(b"SUBSCRIBE\ncontent-length:0\n\n\x00").body == b""


def test_content_length_leading_zeros() -> None:
    assert parse_one(b"SEND\ncontent-length:0003\n\nabc\x00").body == b"abc"


@pytest.mark.parametrize("value", ["abc", "-1", "+3", "1.5", " 3", "3 ", "", "0x1", "\u0663"])
def test_invalid_content_length_is_a_protocol_error(value: str) -> None:
    assert protocol_error(f"SEND\ncontent-length:{value}\n\nabc\x00").message == (
        "invalid content-length"
    )


def test_content_length_shorter_than_body_is_a_protocol_error() -> None:
    exc = protocol_error(b"SEND\ncontent-length:2\n\nabc\x00")
    assert "content-length" in exc.message


def test_content_length_beyond_the_message_is_incomplete() -> None:
    exc = protocol_error(b"SEND\ncontent-length:10\n\nabc\x00")
    assert exc.message.startswith("incomplete frame")


def test_huge_content_length_is_body_too_large() -> None:
    exc = protocol_error("SEND\ncontent-length:" + "9" * 400 + "\n\nabc\x00")
    assert exc.message.startswith("frame body too large")


def test_content_length_with_thousands_of_digits_never_leaks_value_error() -> None:
    limits = Limits(max_header_line_bytes=10_000)
    exc = protocol_error("SEND\ncontent-length:" + "1" * 5000 + "\n\n\x00", limits=limits)
    assert exc.message.startswith("frame body too large")


# ------------------------------------------------------------------ frame stream


def test_several_frames_and_heartbeats_in_one_message() -> None:
    data = (
        b"\n"
        b"SEND\ndestination:/a\n\none\x00"
        b"\r\n\n"
        b"SEND\ndestination:/b\ncontent-length:3\n\nt\x00o\x00"
        b"ACK\nid:7\n\n\x00\n"
    )
    result = parse(data)
    assert [f.body for f in result.frames] == [b"one", b"t\x00o", b""]
    assert [f.command for f in result.frames] == ["SEND", "SEND", "ACK"]
    assert result.heartbeats == 4


@pytest.mark.parametrize(
    ("data", "beats"), [(b"\n", 1), (b"\r\n", 1), (b"\n\r\n\n", 3), ("\r\n\r\n", 2)]
)
def test_heartbeat_only_messages(data: bytes | str, beats: int) -> None:
    assert parse(data) == ParseResult([], beats)


def test_empty_message_has_no_frames_and_no_heartbeats() -> None:
    frames, beats = parse(b"")
    assert (frames, beats) == ([], 0)


def test_parse_result_fields_and_repr() -> None:
    result = parse(b"\nDISCONNECT\n\n\x00")
    assert result.frames == [Frame("DISCONNECT")]
    assert result.heartbeats == 1
    assert repr(result) == "ParseResult(frames=[Frame('DISCONNECT', [], b'')], heartbeats=1)"


def test_lone_cr_is_not_a_heartbeat() -> None:
    assert protocol_error(b"\r").message == "unknown command '\\r'"


# ------------------------------------------------------------------ malformed frames


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (b"FOO\n\n\x00", "FOO"),
        (b"send\n\n\x00", "send"),
        (b"SEND \n\n\x00", "SEND "),
        (b"\x00", "\\x00"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1."),
    ],
)
def test_unknown_command_is_a_protocol_error(data: bytes, shown: str) -> None:
    assert protocol_error(data).message == f"unknown command '{shown}'"


@pytest.mark.parametrize(
    "data",
    [
        b"SEND",
        b"SEND\r",
        b"SEND\n",
        b"SEND\ndestination:/a",
        b"SEND\ndestination:/a\n",
        b"SEND\ndestination:/a\n\nbody",
        b"SEND\n\n\x00SEND\n\n",
    ],
)
def test_missing_null_terminator_is_a_protocol_error(data: bytes) -> None:
    assert protocol_error(data).message == "incomplete frame: missing NULL terminator"


def test_header_line_without_colon() -> None:
    assert "missing ':'" in protocol_error(b"SEND\ndestination\n\n\x00").message


def test_empty_header_name() -> None:
    assert "empty header name" in protocol_error(b"SEND\n:value\n\n\x00").message


def test_invalid_utf8_in_header_is_a_protocol_error() -> None:
    exc = protocol_error(b"SEND\ndestination:/a\xff\xfe\n\n\x00")
    assert exc.message == "header is not valid UTF-8"
    assert exc.detail == "destination:/a\\xff\\xfe"


def test_invalid_utf8_in_command_is_a_protocol_error() -> None:
    assert protocol_error(b"\xc3\x28\n\n\x00").message.startswith("unknown command")


@pytest.mark.parametrize("command", sorted(COMMANDS - BODY_COMMANDS))
def test_body_on_a_bodiless_command_is_a_protocol_error(command: str) -> None:
    exc = protocol_error(f"{command}\n\nx\x00")
    assert exc.message == f"{command} frame must not have a body"


def test_error_message_is_single_line() -> None:
    exc = StompProtocolError("first\nsecond\r\nthird", detail="more")
    assert exc.message == "first second third"
    assert str(exc) == exc.message
    assert exc.detail == "more"


def test_error_messages_never_contain_eols_even_for_hostile_input() -> None:
    exc = protocol_error(b"A\rB\x00\n")
    assert "\n" not in exc.message
    assert "\r" not in exc.message


# ------------------------------------------------------------------ limits


def test_default_limits() -> None:
    assert DEFAULT_LIMITS.max_frame_bytes == 32 * 1024  # API Gateway's frame limit
    assert DEFAULT_LIMITS.max_headers == 32
    assert DEFAULT_LIMITS.max_header_line_bytes == 1024
    assert DEFAULT_LIMITS.max_body_bytes == 32 * 1024
    assert Limits() == DEFAULT_LIMITS
    assert "max_headers=32" in repr(DEFAULT_LIMITS)


def test_limits_must_be_non_negative() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Limits(max_headers=-1)


def test_frame_size_limit_is_inclusive_of_the_null() -> None:
    data = b"SEND\n\n" + b"x" * 10 + b"\x00"  # 17 octets
    assert parse_one(data, limits=Limits(max_frame_bytes=17)).body == b"x" * 10
    exc = protocol_error(data, limits=Limits(max_frame_bytes=16))
    assert exc.message == "frame too large (limit 16 bytes)"


def test_frame_size_limit_with_content_length() -> None:
    data = b"SEND\ncontent-length:3\n\na\x00b\x00"
    assert parse_one(data, limits=Limits(max_frame_bytes=len(data))).body == b"a\x00b"
    assert protocol_error(data, limits=Limits(max_frame_bytes=len(data) - 1)).message.startswith(
        "frame too large"
    )


def test_frame_size_limit_counts_headers() -> None:
    data = b"SEND\n" + b"h:v\n" * 10 + b"\n\x00"
    exc = protocol_error(data, limits=Limits(max_frame_bytes=20))
    assert exc.message.startswith("frame too large")


def test_frame_size_limit_applies_per_frame_not_per_message() -> None:
    one = b"SEND\n\nxxxxxxxxxx\x00"
    frames, _ = parse(one * 5, limits=Limits(max_frame_bytes=len(one)))
    assert len(frames) == 5


def test_frame_limit_is_enforced_before_the_end_of_the_data() -> None:
    # No NULL anywhere: without a bounded scan this would be "incomplete frame".
    data = b"SEND\n\n" + b"x" * (DEFAULT_LIMITS.max_frame_bytes * 3)
    assert protocol_error(data).message == "frame too large (limit 32768 bytes)"


def test_default_frame_limit() -> None:
    head = b"SEND\ndestination:/a\n\n"
    body_size = DEFAULT_LIMITS.max_frame_bytes - len(head) - 1
    assert len(parse_one(head + b"x" * body_size + b"\x00").body) == body_size
    assert protocol_error(head + b"x" * (body_size + 1) + b"\x00").message.startswith(
        "frame too large"
    )


def test_header_count_limit() -> None:
    limits = Limits(max_headers=3)
    assert len(parse_one(b"SEND\na:1\nb:2\nc:3\n\n\x00", limits=limits).headers) == 3
    exc = protocol_error(b"SEND\na:1\nb:2\nc:3\nd:4\n\n\x00", limits=limits)
    assert exc.message == "too many headers (limit 3)"


def test_default_header_count_limit_counts_repeats() -> None:
    data = b"SEND\n" + b"a:1\n" * 33 + b"\n\x00"
    assert protocol_error(data).message == "too many headers (limit 32)"


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_header_line_limit_excludes_the_eol(eol: bytes) -> None:
    limits = Limits(max_header_line_bytes=5)
    assert parse_one(b"SEND" + eol + b"ab:cd" + eol + eol + b"\x00", limits=limits)
    exc = protocol_error(b"SEND" + eol + b"ab:cde" + eol + eol + b"\x00", limits=limits)
    assert exc.message == "header line too long (limit 5 bytes)"


def test_header_line_limit_without_any_eol() -> None:
    data = b"SEND\nk:" + b"v" * 5000
    assert protocol_error(data).message == "header line too long (limit 1024 bytes)"


def test_body_limit_without_content_length() -> None:
    limits = Limits(max_body_bytes=4)
    assert parse_one(b"SEND\n\nabcd\x00", limits=limits).body == b"abcd"
    exc = protocol_error(b"SEND\n\nabcde\x00", limits=limits)
    assert exc.message == "frame body too large (limit 4 bytes)"


def test_body_limit_with_content_length_is_checked_before_reading() -> None:
    limits = Limits(max_body_bytes=4)
    assert parse_one(b"SEND\ncontent-length:4\n\nab\x00d\x00", limits=limits)
    # The body is not even present: the declared size alone is rejected.
    exc = protocol_error(b"SEND\ncontent-length:5\n\n", limits=limits)
    assert exc.message == "frame body too large (limit 4 bytes)"


# ------------------------------------------------------------------ serialization


def test_serialize_adds_content_length_for_a_body() -> None:
    frame = Frame("SEND", [("destination", "/a")], b"a\x00b")
    assert serialize(frame) == b"SEND\ndestination:/a\ncontent-length:3\n\na\x00b\x00"


def test_serialize_omits_content_length_for_an_empty_body() -> None:
    assert serialize(Frame("RECEIPT", [("receipt-id", "1")])) == b"RECEIPT\nreceipt-id:1\n\n\x00"


def test_serialize_keeps_a_correct_content_length() -> None:
    frame = Frame("SEND", [("content-length", "2"), ("x", "y")], b"ab")
    assert serialize(frame) == b"SEND\ncontent-length:2\nx:y\n\nab\x00"


def test_serialize_rejects_a_wrong_content_length() -> None:
    with pytest.raises(ValueError, match="does not match"):
        serialize(Frame("SEND", [("content-length", "9")], b"ab"))


def test_serialize_escapes_names_and_values() -> None:
    frame = Frame("MESSAGE", [("a:b", "c\\d\re\nf:")])
    assert serialize(frame) == b"MESSAGE\na\\cb:c\\\\d\\re\\nf\\c\n\n\x00"
    assert parse_one(serialize(frame)) == frame


def test_serialize_without_escaping_for_stomp_10() -> None:
    frame = Frame("MESSAGE", [("a", "b\\c:d")])
    assert serialize(frame, escape=False) == b"MESSAGE\na:b\\c:d\n\n\x00"
    assert parse_one(serialize(frame, escape=False), escape=False) == frame


@pytest.mark.parametrize(
    "header", [("a", "line\nbreak"), ("a", "cr\r"), ("a:b", "v"), ("a\nb", "v")]
)
def test_serialize_unescaped_rejects_unrepresentable_headers(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="unescaped"):
        serialize(Frame("MESSAGE", [header]), escape=False)
    with pytest.raises(ValueError, match="unescaped"):
        serialize(Frame("CONNECTED", [header]))


def test_serialize_connected_is_never_escaped() -> None:
    frame = Frame("CONNECTED", [("server", "chatflow:1.0\\x")])
    assert serialize(frame) == b"CONNECTED\nserver:chatflow:1.0\\x\n\n\x00"


def test_serialize_rejects_invalid_frames() -> None:
    with pytest.raises(ValueError, match="unknown STOMP command"):
        serialize(Frame("FOO"))
    with pytest.raises(ValueError, match="must not have a body"):
        serialize(Frame("SUBSCRIBE", [], b"x"))
    with pytest.raises(ValueError, match="empty header name"):
        serialize(Frame("SEND", [("", "v")]))
    with pytest.raises(ValueError, match="not encodable"):
        serialize(Frame("SEND", [("k", "\ud800")]))


def test_serialize_text() -> None:
    frame = message("/topic/a", "sub-0", "m-1", "héllo")
    text = serialize_text(frame)
    assert text.encode() == serialize(frame)
    assert "content-length:6\n" in text  # octets, not characters
    assert parse_one(text) == parse_one(serialize(frame))


def test_serialize_text_rejects_binary_body() -> None:
    with pytest.raises(ValueError, match="not UTF-8"):
        serialize_text(Frame("SEND", [], b"\xff"))


# ------------------------------------------------------------------ Frame and helpers


def test_frame_defaults_equality_and_repr() -> None:
    frame = Frame("DISCONNECT")
    assert frame.headers == []
    assert frame.body == b""
    assert frame == Frame("DISCONNECT", [])
    assert frame != Frame("DISCONNECT", [("receipt", "1")])
    assert frame != "DISCONNECT"
    assert repr(Frame("SEND", [], b"x" * 100)).endswith("...')")


def test_frame_copies_headers_and_is_unhashable() -> None:
    source = [("a", "1")]
    frame = Frame("SEND", source)
    source.append(("b", "2"))
    assert frame.headers == [("a", "1")]
    with pytest.raises(TypeError):
        hash(frame)


def test_connected_helper() -> None:
    frame = connected(heart_beat=(0, 10_000), session="s-1", server="chatflow/1")
    assert frame.command == "CONNECTED"
    assert frame.headers == [
        ("version", "1.2"),
        ("heart-beat", "0,10000"),
        ("session", "s-1"),
        ("server", "chatflow/1"),
    ]
    assert connected("1.0", headers=[("x", "y")]).headers[-1] == ("x", "y")


def test_receipt_helper() -> None:
    frame = receipt("77", [("x", "y")])
    assert frame == Frame("RECEIPT", [("receipt-id", "77"), ("x", "y")])


def test_error_helper() -> None:
    frame = error("bad frame\nreally", receipt_id="r-9", body="line 1\nline 2")
    assert frame.command == "ERROR"
    assert frame.header("message") == "bad frame really"
    assert frame.header("receipt-id") == "r-9"
    assert frame.header("content-type") == "text/plain;charset=utf-8"
    assert frame.body == b"line 1\nline 2"
    assert error("x").headers == [("message", "x")]
    assert parse_one(serialize(frame, escape=False), escape=False).header("message") == (
        "bad frame really"
    )


def test_error_helper_from_protocol_error() -> None:
    exc = protocol_error(b"FOO\n\n\x00")
    frame = error(exc.message, body=exc.detail or "")
    assert frame.header("message") == "unknown command 'FOO'"


def test_message_helper() -> None:
    frame = message("/topic/r", "sub-1", "m-1", b"\x00bin", [("content-type", "x/y")])
    assert frame.headers == [
        ("destination", "/topic/r"),
        ("message-id", "m-1"),
        ("subscription", "sub-1"),
        ("content-type", "x/y"),
    ]
    wire = serialize(frame)
    assert wire.endswith(b"content-length:4\n\n\x00bin\x00")
    assert parse_one(wire).body == b"\x00bin"
