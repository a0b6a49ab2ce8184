"""TransactWriteItems: every condition is checked first, then every write, or none.

DynamoDB cancels the whole transaction when any condition fails, and says which in
``CancellationReasons`` (one entry per action, ``{"Code": "None"}`` for those that
passed), which callers read to tell apart, say, a duplicate from a missing parent item.
Two actions on one item are refused, as on DynamoDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.dynamo import expressions as ex
from local.dynamo.errors import DynamoError
from local.dynamo.tables import Table
from local.dynamo.values import Item, check_item

if TYPE_CHECKING:
    from local.dynamo.engine import Engine

ACTIONS = ("ConditionCheck", "Put", "Delete", "Update")
MAX_ACTIONS = 100


def invalid(message: str) -> DynamoError:
    return DynamoError("ValidationException", message)


@dataclass
class _Action:
    table: Table
    hk: Any
    sk: Any
    new: Item | None  # the item to store; None to delete, or for a ConditionCheck
    size: int
    writes: bool
    reason: dict[str, Any]


def transact_write(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    entries = request.get("TransactItems") or []
    if not 1 <= len(entries) <= MAX_ACTIONS:
        raise invalid("TransactItems must have between 1 and 100 actions")
    actions: list[_Action] = []
    seen: set[tuple[str, Any, Any]] = set()
    for entry in entries:
        action = _prepare(engine, entry)
        if (action.table.name, action.hk, action.sk) in seen:
            raise invalid("Transaction request cannot include multiple operations on one item")
        seen.add((action.table.name, action.hk, action.sk))
        actions.append(action)
    reasons = [a.reason for a in actions]
    if any(r["Code"] != "None" for r in reasons):
        codes = ", ".join(r["Code"] for r in reasons)
        raise DynamoError(
            "TransactionCanceledException",
            f"Transaction cancelled, please refer cancellation reasons for specific reasons "
            f"[{codes}]",
            extra={"CancellationReasons": reasons},
        )
    for a in actions:
        if a.writes and a.new is None:
            a.table.delete(a.hk, a.sk)
        elif a.writes and a.new is not None:
            a.table.put(a.hk, a.sk, a.new, a.size)
    return {}


def _prepare(engine: Engine, entry: dict[str, Any]) -> _Action:
    """One action checked and evaluated against the current items; nothing written yet."""
    kinds = [k for k in ACTIONS if k in entry]
    if len(kinds) != 1:
        raise invalid("Each TransactItem must contain exactly one action")
    kind = kinds[0]
    spec = entry[kind]
    table = engine.table_of(spec)
    new: Item | None = None
    size = 0
    if kind == "Put":
        new, size = check_item(spec.get("Item"))
        hk, sk = table.item_key_values(new)
    else:
        hk, sk = table.key_values(spec.get("Key", {}))
    env = ex.env_of(spec)
    old = engine.live(table, hk, sk)
    text = spec.get("ConditionExpression")
    if kind == "ConditionCheck" and text is None:
        raise invalid("ConditionCheck needs a ConditionExpression")
    passed = text is None or ex.evaluate(env.use(ex.parse_condition(text)).tree, old or {}, env)
    if kind == "Update":
        updated, _ = engine.updated(table, spec, env, spec["Key"], old)
        new, size = check_item(updated)
    env.check_all_used()
    reason: dict[str, Any] = {"Code": "None"}
    if not passed:
        reason = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
        if spec.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old:
            reason["Item"] = old
    return _Action(table, hk, sk, new, size, kind != "ConditionCheck", reason)
