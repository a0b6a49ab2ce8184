"""Field rules shared by every edge (REST bodies, STOMP frames) and the domain.

Each check returns the cleaned value or raises InvalidInput naming the field, so the
REST API and the STOMP layer report the same words for the same mistake.
"""

from __future__ import annotations

import re
import unicodedata

from chatflow.errors import InvalidInput

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$")
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_BYTES = 72
DISPLAY_NAME_MAX = 64
ROOM_NAME_MAX = 80
TOPIC_MAX = 300
CLIENT_MSG_ID_MAX = 64
CLIENT_MSG_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _has_control_chars(value: str, allow_newlines: bool = False) -> bool:
    for char in value:
        if allow_newlines and char in "\n\t":
            continue
        if unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn"):
            return True
    return False


# Joiners are format characters too, but emoji sequences and several scripts (Persian,
# Indic) need them; every other one is refused in names.
VISIBLE_JOINERS = frozenset("\u200c\u200d")


def _has_invisible_format_chars(value: str) -> bool:
    """Bidi overrides and isolates, zero-width spaces, byte order marks, soft hyphens...

    In a name they change what people see without being seen: ``\u202e`` makes
    "gnp.exe" read as "exe.png", a zero-width space makes two rooms look alike. Message
    bodies keep them (quoting text is legitimate there); names, topics and searches do not.
    """
    return any(unicodedata.category(char) == "Cf" and char not in VISIBLE_JOINERS for char in value)


# What draws nothing by itself: joiners and other format characters, combining marks
# (variation selectors are marks too) with no base before them, and separators.
_NOT_A_VISIBLE_BASE = frozenset(("Cf", "Mn", "Mc", "Me", "Zs", "Zl", "Zp"))
# Letters by category that render as blank space (the Hangul fillers, the braille blank).
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _has_visible_char(value: str) -> bool:
    """True when something in ``value`` is seen: a name of U+200D, or of variation
    selectors and combining marks alone, looks empty (and like every other such name)."""
    return any(
        unicodedata.category(char) not in _NOT_A_VISIBLE_BASE and char not in BLANK_LETTERS
        for char in value
    )


def _fail(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", {field: message})


def username(value: str, field: str = "username") -> str:
    if not USERNAME_RE.fullmatch(value):
        raise _fail(
            field,
            "3-32 characters: letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return value


def password(value: str, field: str = "password") -> str:
    if len(value) < PASSWORD_MIN_CHARS:
        raise _fail(field, f"at least {PASSWORD_MIN_CHARS} characters")
    if len(value.encode()) > PASSWORD_MAX_BYTES:
        raise _fail(field, f"at most {PASSWORD_MAX_BYTES} bytes in UTF-8")
    if "\x00" in value:
        raise _fail(field, "must not contain NUL characters")
    return value


def single_line(value: str, field: str, max_chars: int, required: bool = True) -> str:
    cleaned = unicodedata.normalize("NFC", value).strip()
    if required and not cleaned:
        raise _fail(field, "must not be empty")
    if len(cleaned) > max_chars:
        raise _fail(field, f"at most {max_chars} characters")
    if _has_control_chars(cleaned):
        raise _fail(field, "must not contain control characters")
    if _has_invisible_format_chars(cleaned):
        raise _fail(
            field,
            "must not contain invisible formatting characters "
            "(such as right-to-left overrides or zero-width spaces)",
        )
    if cleaned and not _has_visible_char(cleaned):
        raise _fail(
            field,
            "must contain a visible character (not only joiners, variation selectors, "
            "combining marks or blank letters)",
        )
    return cleaned


def message_body(value: str, max_chars: int, field: str = "body") -> str:
    cleaned = unicodedata.normalize("NFC", value)
    if not cleaned.strip():
        raise _fail(field, "must not be empty")
    if len(cleaned) > max_chars:
        raise _fail(field, f"at most {max_chars} characters")
    if _has_control_chars(cleaned, allow_newlines=True):
        raise _fail(field, "must not contain control characters other than newline and tab")
    return cleaned


def client_msg_id(value: str | None, field: str = "clientMsgId") -> str | None:
    if value is None:
        return None
    if not CLIENT_MSG_ID_RE.fullmatch(value):
        raise _fail(field, "1-64 characters: letters, digits, '.', '_', ':' or '-'")
    return value
