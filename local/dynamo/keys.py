"""A Query's KeyConditionExpression, checked against the key schema and turned into bounds.

DynamoDB accepts ``hash = :v`` alone or with one condition on the sort key (``=``, ``<``,
``<=``, ``>``, ``>=``, ``BETWEEN``, ``begins_with``), joined by AND; anything else is a
ValidationException with the messages below. The bounds become two bisections of the
partition's sorted keys.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.dynamo import expressions as ex
from local.dynamo.errors import DynamoError
from local.dynamo.tables import Table
from local.dynamo.values import AttributeValue, sort_value

FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def invalid(message: str) -> DynamoError:
    return DynamoError("ValidationException", message)


@dataclass(frozen=True)
class KeyCondition:
    hash_value: Any
    op: str | None = None  # None (whole partition), a comparator, "BETWEEN", "begins_with"
    low: Any = None
    high: Any = None

    @classmethod
    def of(cls, tree: ex.Condition, table: Table, env: ex.Env) -> KeyCondition:
        parts = _conjuncts(tree)
        if len(parts) > 2:
            raise invalid("Conditions can be of length 1 or 2 only")
        hash_value: Any = None
        sort: tuple[str, Any, Any] | None = None
        for part in parts:
            name, op, low, high = _key_part(part, table, env)
            if name == table.hash_key and op == "=" and hash_value is None:
                hash_value = low
            elif name == table.range_key and sort is None:
                sort = (op, low, high)
            elif name not in table.key_names:
                raise invalid("Query condition missed key schema element")
            else:
                raise invalid("Query key condition not supported")
        if hash_value is None:
            raise invalid(f"Query condition missed key schema element: {table.hash_key}")
        if sort is None:
            return cls(hash_value)
        op, low, high = sort
        if op == "BETWEEN" and low > high:
            raise invalid(
                "Invalid KeyConditionExpression: The BETWEEN operator requires upper "
                "bound to be greater than or equal to lower bound; lower operand: "
                f"{low}, upper operand: {high}"
            )
        return cls(hash_value, op, low, high)

    def span(self, keys: list[Any]) -> tuple[int, int]:
        """[start, end) of the sort keys that satisfy the condition."""
        if self.op is None:
            return 0, len(keys)
        if self.op == "begins_with":  # the run of keys that start with the prefix
            prefix = self.low
            start = end = bisect_left(keys, prefix)
            while end < len(keys) and keys[end][: len(prefix)] == prefix:
                end += 1
            return start, end
        return SPANS[self.op](keys, self.low, self.high)


SPANS: dict[str, Callable[[list[Any], Any, Any], tuple[int, int]]] = {
    "=": lambda keys, v, _: (bisect_left(keys, v), bisect_right(keys, v)),
    "<": lambda keys, v, _: (0, bisect_left(keys, v)),
    "<=": lambda keys, v, _: (0, bisect_right(keys, v)),
    ">": lambda keys, v, _: (bisect_right(keys, v), len(keys)),
    ">=": lambda keys, v, _: (bisect_left(keys, v), len(keys)),
    "BETWEEN": lambda keys, low, high: (bisect_left(keys, low), bisect_right(keys, high)),
}


def resume(keys: list[Any], start: int, end: int, after: Any, forward: bool) -> tuple[int, int]:
    """Narrow [start, end) to the keys after ``after`` in the reading direction."""
    if forward:
        return max(start, bisect_right(keys, after)), end
    return start, min(end, bisect_left(keys, after))


def _conjuncts(tree: ex.Condition) -> list[ex.Condition]:
    if isinstance(tree, ex.BoolOp):
        if tree.op != "AND":
            raise invalid(f"Invalid operator used in KeyConditionExpression: {tree.op}")
        return _conjuncts(tree.left) + _conjuncts(tree.right)
    return [tree]


def _key_part(part: ex.Condition, table: Table, env: ex.Env) -> tuple[str, str, Any, Any]:
    """(attribute name, operator, low, high) of one key condition."""
    if isinstance(part, ex.Compare):
        left, right, op = part.left, part.right, part.op
        if isinstance(right, ex.Attr) and isinstance(left, ex.Value):
            left, right, op = right, left, FLIPPED.get(op, op)
        if op == "<>":
            raise invalid("Unsupported operator in KeyConditionExpression: <>")
        name = _name(left, env)
        return name, op, _bound(right, name, table, env), None
    if isinstance(part, ex.Between):
        name = _name(part.subject, env)
        return (
            name,
            "BETWEEN",
            _bound(part.low, name, table, env),
            _bound(part.high, name, table, env),
        )
    if isinstance(part, ex.Call) and part.name == "begins_with":
        name = _name(part.args[0], env)
        if table.key_types.get(name) == "N":
            raise invalid(
                "Invalid KeyConditionExpression: Incorrect operand type for operator "
                "or function; operator or function: begins_with, operand type: N"
            )
        return name, "begins_with", _bound(part.args[1], name, table, env), None
    if isinstance(part, ex.Not):
        raise invalid("Invalid operator used in KeyConditionExpression: NOT")
    if isinstance(part, ex.In):
        raise invalid("Invalid operator used in KeyConditionExpression: IN")
    name = part.name if isinstance(part, ex.Call) else "?"
    raise invalid(f"Invalid operator used in KeyConditionExpression: {name}")


def _name(operand: ex.Operand, env: ex.Env) -> str:
    if not isinstance(operand, ex.Attr) or len(operand.path) != 1:
        raise invalid("Invalid KeyConditionExpression: a key condition must name a key attribute")
    return str(env.resolve(operand.path)[0])


def _bound(operand: ex.Operand, name: str, table: Table, env: ex.Env) -> Any:
    if not isinstance(operand, ex.Value):
        raise invalid(
            "Invalid KeyConditionExpression: a key attribute must be compared with "
            "an expression attribute value"
        )
    value: AttributeValue = env.values[operand.ref]
    expected = table.key_types.get(name)
    if expected is None:
        return None
    if expected not in value:
        raise invalid(
            "One or more parameter values were invalid: Condition parameter type "
            "does not match schema type"
        )
    return sort_value(value)
