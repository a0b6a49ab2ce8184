"""DynamoDB attribute values as they travel on the wire: ``{"S": "x"}``, ``{"N": "1.5"}``...

Items stay in their JSON shape from request to storage to response, so a read costs no
conversion; this module checks a value once when it is written (types, numbers, empty
sets, sizes), puts numbers in DynamoDB's canonical form (``"1.50"`` reads back as ``"1.5"``,
and ``1`` and ``1.0`` are the same key), and compares values the way DynamoDB does:
numbers numerically, binary by bytes, strings by UTF-8 bytes (code point order).
"""

from __future__ import annotations

import base64
import binascii
import decimal
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from local.dynamo.errors import DynamoError

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

MAX_ITEM_BYTES = 400 * 1024
NUMBER_CONTEXT = decimal.Context(prec=38, Emax=125, Emin=-130, traps=[decimal.InvalidOperation])
SCALAR_KEY_TYPES = frozenset(("S", "N", "B"))


def invalid(message: str) -> DynamoError:
    return DynamoError("ValidationException", message)


def number(text: object) -> Decimal:
    """The value of an ``N`` string; a ValidationException when it is not a number."""
    if not isinstance(text, str):
        raise invalid("NUMBER_VALUE cannot be converted to String")
    try:
        value = Decimal(text)
    except decimal.InvalidOperation:
        raise invalid("A value provided cannot be converted into a number") from None
    if not value.is_finite():
        raise invalid("A value provided cannot be converted into a number")
    return value


def format_number(value: Decimal) -> str:
    """DynamoDB's canonical text of a number: no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    try:
        value = NUMBER_CONTEXT.plus(value)
    except decimal.InvalidOperation:
        raise invalid(
            "Number overflow. Attempting to store a number with magnitude larger "
            "than supported range"
        ) from None
    return format(value.normalize(NUMBER_CONTEXT), "f")


def canonical_number(text: object) -> str:
    if isinstance(text, str) and text.isdigit() and (text[0] != "0" or text == "0"):
        return text  # the common case: a plain integer is already canonical
    return format_number(number(text))


def binary(text: object) -> bytes:
    if not isinstance(text, str):
        raise invalid("Binary values must be base64 strings")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("Invalid binary value: not base64") from None


def check_value(value: object, where: str) -> tuple[AttributeValue, int]:
    """A checked, canonical copy of ``value`` and its size in bytes (DynamoDB's accounting)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise invalid(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one "
            f"of the supported datatypes ({where})"
        )
    ((kind, body),) = value.items()
    checker = CHECKERS.get(kind)
    if checker is None:
        raise invalid(f"Supplied AttributeValue has an unknown datatype: {kind} ({where})")
    return checker(kind, body, where)


def _check_scalar(kind: str, body: object, where: str) -> tuple[AttributeValue, int]:
    if kind == "S" and isinstance(body, str):
        return {"S": body}, len(body.encode())
    if kind == "N":
        text = canonical_number(body)
        return {"N": text}, len(text) // 2 + 2
    if kind == "B":
        return {"B": body}, len(binary(body))
    if kind == "BOOL" and isinstance(body, bool):
        return {"BOOL": body}, 1
    if kind == "NULL" and body is True:
        return {"NULL": True}, 1
    raise invalid(f"Invalid {kind} value ({where})")


def _check_map(kind: str, body: object, where: str) -> tuple[AttributeValue, int]:
    if not isinstance(body, dict):
        raise invalid(f"Invalid M value ({where})")
    checked, size = check_item(body, where, top=False)
    return {"M": checked}, size + 3


def _check_list(kind: str, body: object, where: str) -> tuple[AttributeValue, int]:
    if not isinstance(body, list):
        raise invalid(f"Invalid L value ({where})")
    out: list[AttributeValue] = []
    size = 3
    for element in body:
        checked, element_size = check_value(element, where)
        out.append(checked)
        size += element_size + 1
    return {"L": out}, size


def _check_set(kind: str, body: object, where: str) -> tuple[AttributeValue, int]:
    if not isinstance(body, list) or not body:
        raise invalid(f"One or more parameter values were invalid: An {kind} may not be empty")
    if kind == "NS":
        elements = [canonical_number(e) for e in body]
        distinct = {number(e) for e in elements}
        size = sum(len(e) // 2 + 2 for e in elements)
    elif kind == "BS":
        decoded = [binary(e) for e in body]
        elements = list(body)
        distinct = set(decoded)  # type: ignore[arg-type]
        size = sum(len(d) for d in decoded)
    else:
        if not all(isinstance(e, str) for e in body):
            raise invalid(f"Invalid SS value ({where})")
        elements = list(body)
        distinct = set(elements)  # type: ignore[arg-type]
        size = sum(len(e.encode()) for e in elements)
    if len(distinct) != len(elements):
        raise invalid(
            f"One or more parameter values were invalid: Input collection {body} "
            "contains duplicates."
        )
    return {kind: elements}, size


Checker = Callable[[str, object, str], tuple[AttributeValue, int]]
CHECKERS: dict[str, Checker] = {
    "S": _check_scalar, "N": _check_scalar, "B": _check_scalar, "BOOL": _check_scalar,
    "NULL": _check_scalar, "M": _check_map, "L": _check_list,
    "SS": _check_set, "NS": _check_set, "BS": _check_set,
}  # fmt: skip


def check_item(item: object, where: str = "Item", top: bool = True) -> tuple[Item, int]:
    """A checked, canonical copy of an item (or map) and its size; 400 KB at most."""
    if not isinstance(item, dict):
        raise invalid(f"{where} must be a map of attribute values")
    out: Item = {}
    size = 0
    for name, value in item.items():
        checked, value_size = check_value(value, where)
        out[name] = checked
        size += len(name.encode()) + value_size
    if top and size > MAX_ITEM_BYTES:
        raise invalid("Item size has exceeded the maximum allowed size")
    return out, size


def sort_value(value: AttributeValue) -> Any:
    """A Python value that orders and hashes like the key value (S, N or B)."""
    if "S" in value:
        return value["S"]
    if "N" in value:
        return Decimal(value["N"])
    return binary(value["B"])


CANONICAL: dict[str, Callable[[Any], Any]] = {
    "N": number,
    "B": binary,
    "SS": frozenset,
    "NS": lambda body: frozenset(number(x) for x in body),
    "BS": lambda body: frozenset(binary(x) for x in body),
}


def equal(a: AttributeValue, b: AttributeValue) -> bool:
    """DynamoDB equality: numbers by value, sets regardless of order, maps and lists deeply."""
    ka, kb = next(iter(a)), next(iter(b))
    if ka != kb:
        return False
    va, vb = a[ka], b[kb]
    if ka == "M":
        return va.keys() == vb.keys() and all(equal(va[k], vb[k]) for k in va)
    if ka == "L":
        return len(va) == len(vb) and all(equal(x, y) for x, y in zip(va, vb, strict=True))
    canonical = CANONICAL.get(ka)
    return bool(va == vb) if canonical is None else bool(canonical(va) == canonical(vb))


def ordered(a: AttributeValue, b: AttributeValue) -> tuple[Any, Any] | None:
    """Both values as comparable Python values, or None when they cannot be ordered."""
    ka, kb = next(iter(a)), next(iter(b))
    if ka != kb or ka not in SCALAR_KEY_TYPES:
        return None
    return sort_value(a), sort_value(b)


def type_of(value: AttributeValue) -> str:
    return next(iter(value))
