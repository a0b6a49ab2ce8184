"""DynamoDB expressions: condition, filter, key condition, update and projection.

The grammar is DynamoDB's (Developer Guide, "Condition and filter expressions"):

    condition ::= operand comparator operand | operand BETWEEN operand AND operand
                | operand IN ( operand, ... ) | function ( args ) | condition AND condition
                | condition OR condition | NOT condition | ( condition )
    update    ::= SET path = value [, ...] | REMOVE path [, ...] | ADD path :v [, ...]
                | DELETE path :v [, ...]     (each clause at most once, in any order)

Parsing is cached by text (requests repeat the same few expressions); ``#name`` and
``:value`` stay symbolic in the tree and are looked up per request in an :class:`Env`,
which also records which of them were used, because DynamoDB refuses unused ones.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Union

from local.dynamo.errors import DynamoError
from local.dynamo.reserved import RESERVED_WORDS
from local.dynamo.values import (
    AttributeValue,
    binary,
    check_value,
    equal,
    format_number,
    number,
    ordered,
    type_of,
)

PathPart = Union[str, int]  # noqa: UP007 - a runtime alias
Path = tuple[PathPart, ...]

_TOKEN = re.compile(
    r"\s*(?:(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)|(?P<index>\[\s*\d+\s*\])"
    r"|(?P<op><>|<=|>=|[=<>(),.+\-])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
FUNCTIONS = frozenset(
    ("attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains")
)
COMPARATORS = frozenset(("=", "<>", "<", "<=", ">", ">="))


def invalid(message: str) -> DynamoError:
    return DynamoError("ValidationException", message)


# --------------------------------------------------------------------------- tree


@dataclass(frozen=True, slots=True)
class Value:
    ref: str  # ":v"


@dataclass(frozen=True, slots=True)
class Attr:
    path: Path  # parts are names, "#aliases" or list indexes


@dataclass(frozen=True, slots=True)
class Size:
    arg: Attr


@dataclass(frozen=True, slots=True)
class IfNotExists:
    path: Attr
    default: Operand


@dataclass(frozen=True, slots=True)
class ListAppend:
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Arith:
    op: str
    left: Operand
    right: Operand


Operand = Union[Value, Attr, Size, IfNotExists, ListAppend, Arith]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    subject: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    subject: Operand
    options: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "AND" | "OR"
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Not:
    arg: Condition


Condition = Union[Compare, Between, In, Call, BoolOp, Not]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Update:
    sets: tuple[tuple[Attr, Operand], ...] = ()
    removes: tuple[Attr, ...] = ()
    adds: tuple[tuple[Attr, Value], ...] = ()
    deletes: tuple[tuple[Attr, Value], ...] = ()


@dataclass(frozen=True)
class Parsed:
    """A parsed expression and the ``#names`` / ``:values`` it refers to."""

    tree: Any
    names: frozenset[str]
    values: frozenset[str]


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, kind: str) -> None:
        self.kind = kind
        self.tokens: list[tuple[str, str]] = []
        self.names: set[str] = set()
        self.values: set[str] = set()
        position = 0
        text = text.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                bad = text[position:].strip()[:1]
                raise invalid(
                    f'Invalid {kind}: Syntax error; token: "{bad}", near: '
                    f'"{text[max(0, position - 5) : position + 5].strip()}"'
                )
            group = match.lastgroup or ""
            self.tokens.append((group, match.group(group)))
            position = match.end()
        self.at = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def error(self) -> DynamoError:
        kind, text = self.peek()
        shown = "<EOF>" if kind == "end" else text
        return invalid(f'Invalid {self.kind}: Syntax error; token: "{shown}"')

    def expect(self, text: str) -> None:
        if self.peek()[1] != text:
            raise self.error()
        self.at += 1

    def keyword(self, word: str) -> bool:
        kind, text = self.peek()
        if kind == "word" and text.upper() == word:
            self.at += 1
            return True
        return False

    def done(self) -> None:
        if self.peek()[0] != "end":
            raise self.error()

    # -- paths and operands

    def path_part(self) -> str:
        kind, text = self.take()
        if kind == "name":
            self.names.add(text)
            return text
        if kind == "word":
            if text.upper() in RESERVED_WORDS:
                raise invalid(
                    f"Invalid {self.kind}: Attribute name is a reserved keyword; "
                    f"reserved keyword: {text}"
                )
            return text
        self.at -= 1
        raise self.error()

    def path(self) -> Attr:
        parts: list[PathPart] = [self.path_part()]
        while True:
            kind, text = self.peek()
            if kind == "index":
                self.at += 1
                parts.append(int(text.strip("[] ")))
            elif text == "." and kind == "op":
                self.at += 1
                parts.append(self.path_part())
            else:
                return Attr(tuple(parts))

    def value(self) -> Value:
        kind, text = self.take()
        if kind != "value":
            self.at -= 1
            raise self.error()
        self.values.add(text)
        return Value(text)

    def operand(self) -> Operand:
        kind, text = self.peek()
        if kind == "value":
            return self.value()
        if kind == "word" and self.peek(1)[1] == "(":
            name = text.lower()
            if name == "size":
                self.at += 2
                arg = self.path()
                self.expect(")")
                return Size(arg)
            if self.kind == "UpdateExpression" and name in ("if_not_exists", "list_append"):
                self.at += 2
                if name == "if_not_exists":
                    target = self.path()
                    self.expect(",")
                    default = self.operand()
                    self.expect(")")
                    return IfNotExists(target, default)
                left = self.operand()
                self.expect(",")
                right = self.operand()
                self.expect(")")
                return ListAppend(left, right)
            raise invalid(f"Invalid {self.kind}: Invalid function name; function: {text}")
        return self.path()

    # -- conditions

    def condition(self) -> Condition:
        left = self.conjunction()
        while self.keyword("OR"):
            left = BoolOp("OR", left, self.conjunction())
        return left

    def conjunction(self) -> Condition:
        left = self.negation()
        while self.keyword("AND"):
            left = BoolOp("AND", left, self.negation())
        return left

    def negation(self) -> Condition:
        if self.keyword("NOT"):
            return Not(self.negation())
        return self.primary()

    def primary(self) -> Condition:
        kind, text = self.peek()
        if text == "(" and kind == "op":
            self.at += 1
            inner = self.condition()
            self.expect(")")
            return inner
        if kind == "word" and text.lower() in FUNCTIONS and self.peek(1)[1] == "(":
            return self.call(text.lower())
        subject = self.operand()
        kind, text = self.peek()
        if kind == "op" and text in COMPARATORS:
            self.at += 1
            return Compare(text, subject, self.operand())
        if self.keyword("BETWEEN"):
            low = self.operand()
            if not self.keyword("AND"):
                raise self.error()
            return Between(subject, low, self.operand())
        if self.keyword("IN"):
            self.expect("(")
            options = [self.operand()]
            while self.peek()[1] == ",":
                self.at += 1
                options.append(self.operand())
            self.expect(")")
            if len(options) > 100:
                raise invalid(
                    f"Invalid {self.kind}: The IN operator is provided with too many "
                    "operands; number of operands: " + str(len(options))
                )
            return In(subject, tuple(options))
        raise self.error()

    def call(self, name: str) -> Call:
        self.at += 2
        args: list[Operand] = [self.path()]
        if name in ("attribute_exists", "attribute_not_exists"):
            self.expect(")")
            return Call(name, tuple(args))
        self.expect(",")
        args.append(self.operand())
        self.expect(")")
        return Call(name, tuple(args))

    # -- update

    def update(self) -> Update:
        clauses: dict[str, list[Any]] = {}
        while self.peek()[0] != "end":
            kind, text = self.take()
            clause = text.upper() if kind == "word" else ""
            if clause not in ("SET", "REMOVE", "ADD", "DELETE"):
                self.at -= 1
                raise self.error()
            if clause in clauses:
                raise invalid(
                    f'Invalid UpdateExpression: The "{clause}" section can only be '
                    "used once in an update expression;"
                )
            actions: list[Any] = []
            while True:
                actions.append(self.action(clause))
                if self.peek()[1] != ",":
                    break
                self.at += 1
            clauses[clause] = actions
        if not clauses:
            raise self.error()
        return Update(
            tuple(clauses.get("SET", ())),
            tuple(clauses.get("REMOVE", ())),
            tuple(clauses.get("ADD", ())),
            tuple(clauses.get("DELETE", ())),
        )

    def action(self, clause: str) -> Any:
        target = self.path()
        if clause == "REMOVE":
            return target
        if clause == "SET":
            self.expect("=")
            value = self.operand()
            kind, text = self.peek()
            if kind == "op" and text in "+-":
                self.at += 1
                value = Arith(text, value, self.operand())
            return target, value
        return target, self.value()

    def projection(self) -> tuple[Attr, ...]:
        paths = [self.path()]
        while self.peek()[1] == ",":
            self.at += 1
            paths.append(self.path())
        return tuple(paths)


def _parse(text: str, kind: str, rule: Callable[[_Parser], Any]) -> Parsed:
    if not text.strip():
        raise invalid(f"Invalid {kind}: The expression can not be empty;")
    parser = _Parser(text, kind)
    tree = rule(parser)
    parser.done()
    return Parsed(tree, frozenset(parser.names), frozenset(parser.values))


@lru_cache(maxsize=1024)
def parse_condition(text: str, kind: str = "ConditionExpression") -> Parsed:
    return _parse(text, kind, _Parser.condition)


@lru_cache(maxsize=1024)
def parse_update(text: str) -> Parsed:
    return _parse(text, "UpdateExpression", _Parser.update)


@lru_cache(maxsize=256)
def parse_projection(text: str) -> Parsed:
    return _parse(text, "ProjectionExpression", _Parser.projection)


# --------------------------------------------------------------------------- evaluation


@dataclass
class Env:
    """The request's ExpressionAttributeNames/Values, and which ones its expressions used."""

    names: Mapping[str, str]
    values: Mapping[str, AttributeValue]
    used_names: set[str] = field(default_factory=set)
    used_values: set[str] = field(default_factory=set)

    def use(self, parsed: Parsed) -> Parsed:
        for name in parsed.names:
            if name not in self.names:
                raise invalid(
                    "An expression attribute name used in the document path is not "
                    f"defined; attribute name: {name}"
                )
        for value in parsed.values:
            if value not in self.values:
                raise invalid(
                    "An expression attribute value used in expression is not "
                    f"defined; attribute value: {value}"
                )
        self.used_names |= parsed.names
        self.used_values |= parsed.values
        return parsed

    def check_all_used(self) -> None:
        unused_names = set(self.names) - self.used_names
        if unused_names:
            raise invalid(
                "Value provided in ExpressionAttributeNames unused in expressions: "
                f"keys: {{{', '.join(sorted(unused_names))}}}"
            )
        unused_values = set(self.values) - self.used_values
        if unused_values:
            raise invalid(
                "Value provided in ExpressionAttributeValues unused in expressions: "
                f"keys: {{{', '.join(sorted(unused_values))}}}"
            )

    def resolve(self, path: Path) -> Path:
        return tuple(self.names[p] if isinstance(p, str) and p[0] == "#" else p for p in path)


def env_of(request: Mapping[str, Any]) -> Env:
    """The Env of a request (or transaction action), its values checked."""
    names = request.get("ExpressionAttributeNames") or {}
    values = request.get("ExpressionAttributeValues") or {}
    checked: dict[str, AttributeValue] = {}
    for ref, value in values.items():
        checked[ref], _ = check_value(value, f"ExpressionAttributeValues {ref}")
    return Env(names, checked)


def get_path(item: Mapping[str, AttributeValue], path: Path) -> AttributeValue | None:
    """The value at a resolved path, or None when any step is missing or of the wrong type."""
    first = path[0]
    current = item.get(first) if isinstance(first, str) else None
    for part in path[1:]:
        if current is None:
            return None
        if isinstance(part, int):
            elements = current.get("L")
            current = elements[part] if elements is not None and part < len(elements) else None
        else:
            members = current.get("M")
            current = members.get(part) if members is not None else None
    return current


def operand_value(operand: Operand, item: Mapping[str, AttributeValue], env: Env) -> Any:
    if isinstance(operand, Value):
        return env.values[operand.ref]
    if isinstance(operand, Attr):
        return get_path(item, env.resolve(operand.path))
    if isinstance(operand, Size):
        found = get_path(item, env.resolve(operand.arg.path))
        return None if found is None else {"N": str(_size(found))}
    if isinstance(operand, IfNotExists):
        found = get_path(item, env.resolve(operand.path.path))
        return found if found is not None else operand_value(operand.default, item, env)
    if isinstance(operand, ListAppend):
        left = operand_value(operand.left, item, env)
        right = operand_value(operand.right, item, env)
        if left is None or right is None or "L" not in left or "L" not in right:
            raise invalid(
                "Invalid UpdateExpression: Incorrect operand type for operator or "
                "function; operator or function: list_append"
            )
        return {"L": [*left["L"], *right["L"]]}
    left = operand_value(operand.left, item, env)
    right = operand_value(operand.right, item, env)
    if left is None or right is None:
        raise invalid(
            "The provided expression refers to an attribute that does not exist in the item"
        )
    if "N" not in left or "N" not in right:
        raise invalid(
            f"Invalid UpdateExpression: Incorrect operand type for operator or "
            f"function; operator: {operand.op}"
        )
    a, b = number(left["N"]), number(right["N"])
    return {"N": format_number(a + b if operand.op == "+" else a - b)}


def _size(value: AttributeValue) -> int:
    """size(): characters of a string, bytes of a binary, elements of a set, list or map."""
    kind = type_of(value)
    if kind in ("N", "BOOL", "NULL"):
        raise invalid(
            "Invalid ConditionExpression: Incorrect operand type for operator or "
            f"function; operator or function: size, operand type: {kind}"
        )
    return len(binary(value["B"])) if kind == "B" else len(value[kind])


ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def _compare(op: str, left: AttributeValue | None, right: AttributeValue | None) -> bool:
    """DynamoDB's comparison: a missing operand makes it false, except for ``<>``."""
    if left is None or right is None:
        return op == "<>"
    if op in ("=", "<>"):
        return equal(left, right) == (op == "=")
    pair = ordered(left, right)
    return pair is not None and ORDERINGS[op](*pair)


def evaluate(condition: Condition, item: Mapping[str, AttributeValue], env: Env) -> bool:
    """Whether ``item`` (empty when absent) satisfies ``condition``."""
    if isinstance(condition, BoolOp):  # short-circuits: AND on false, OR on true
        left = evaluate(condition.left, item, env)
        decided = left == (condition.op == "OR")
        return left if decided else evaluate(condition.right, item, env)
    if isinstance(condition, Not):
        return not evaluate(condition.arg, item, env)
    if isinstance(condition, Compare):
        left = operand_value(condition.left, item, env)
        right = operand_value(condition.right, item, env)
        return _compare(condition.op, left, right)
    if isinstance(condition, Between):
        subject = operand_value(condition.subject, item, env)
        low = operand_value(condition.low, item, env)
        high = operand_value(condition.high, item, env)
        return _compare(">=", subject, low) and _compare("<=", subject, high)
    if isinstance(condition, In):
        subject = operand_value(condition.subject, item, env)
        return subject is not None and any(
            _compare("=", subject, operand_value(o, item, env)) for o in condition.options
        )
    return _call(condition, item, env)


def _call(call: Call, item: Mapping[str, AttributeValue], env: Env) -> bool:
    target = call.args[0]
    assert isinstance(target, Attr)  # the parser guarantees it
    found = get_path(item, env.resolve(target.path))
    if call.name in ("attribute_exists", "attribute_not_exists"):
        return (found is not None) == (call.name == "attribute_exists")
    arg = operand_value(call.args[1], item, env)
    if found is None or arg is None:
        return False
    if call.name == "attribute_type":
        return bool(type_of(found) == arg.get("S"))
    if call.name == "begins_with":
        return _begins_with(found, arg)
    return _contains(found, arg)


def _begins_with(found: AttributeValue, prefix: AttributeValue) -> bool:
    kind = type_of(found)
    if kind != type_of(prefix) or kind not in ("S", "B"):
        return False
    if kind == "S":
        return bool(found["S"].startswith(prefix["S"]))
    return binary(found["B"]).startswith(binary(prefix["B"]))


def _contains(found: AttributeValue, arg: AttributeValue) -> bool:
    kind = type_of(found)
    if kind == "S":
        return "S" in arg and arg["S"] in found["S"]
    if kind in ("SS", "NS", "BS"):
        element = kind[0]
        return element in arg and any(equal({element: e}, arg) for e in found[kind])
    return kind == "L" and any(equal(e, arg) for e in found["L"])
