"""Applying an UpdateExpression, and projecting an item on a ProjectionExpression.

Both work on resolved paths (``#names`` already replaced, see :class:`Env`). An update never
changes the stored item: it copies the top-level attributes it touches, so a reply that
handed out the old item stays valid.
"""

from __future__ import annotations

import copy
from typing import Any

from local.dynamo.errors import DynamoError
from local.dynamo.expressions import Attr, Env, Path, Update, get_path, operand_value
from local.dynamo.values import AttributeValue, Item, equal, format_number, number, type_of


def invalid(message: str) -> DynamoError:
    return DynamoError("ValidationException", message)


# --------------------------------------------------------------------------- update


def apply_update(
    update: Update, item: Item, env: Env, keys: frozenset[str]
) -> tuple[Item, set[str]]:
    """The item after ``update`` and the top-level names it touched; ``item`` is not changed.

    Every right-hand side is read from the item as it was before the update, as DynamoDB does.
    """
    values = [(env.resolve(t.path), operand_value(v, item, env)) for t, v in update.sets]
    adds = [(env.resolve(t.path), env.values[v.ref]) for t, v in update.adds]
    deletes = [(env.resolve(t.path), env.values[v.ref]) for t, v in update.deletes]
    removes = [env.resolve(t.path) for t in update.removes]
    touched = {str(p[0]) for p, _ in values} | {str(p[0]) for p, _ in adds}
    touched |= {str(p[0]) for p, _ in deletes} | {str(p[0]) for p in removes}
    _check_overlaps(
        [p for p, _ in values] + [p for p, _ in adds] + [p for p, _ in deletes] + removes
    )
    for name in touched & keys:
        raise invalid(
            f"One or more parameter values were invalid: Cannot update attribute "
            f"{name}. This attribute is part of the key"
        )
    new = _copy_paths(item, touched)
    for path, value in values:
        _set_path(new, path, value)
    for path in sorted(removes, key=lambda p: [-x if isinstance(x, int) else 0 for x in p]):
        _remove_path(new, path)
    for path, value in adds:
        _add(new, path, value)
    for path, value in deletes:
        _delete(new, path, value)
    return new, touched


def _copy_paths(item: Item, touched: set[str]) -> Item:
    new = dict(item)
    for name in touched:
        if name in new:
            new[name] = copy.deepcopy(new[name])
    return new


def _check_overlaps(paths: list[Path]) -> None:
    """DynamoDB refuses an update whose target paths are equal or one inside another."""
    ordered_paths = sorted(paths, key=len)
    for index, shorter in enumerate(ordered_paths):
        for longer in ordered_paths[index + 1 :]:
            if longer[: len(shorter)] == shorter:
                raise invalid(
                    "Invalid UpdateExpression: Two document paths overlap with each other; must "
                    f"remove or rewrite one of these paths; path one: {list(shorter)}, path "
                    f"two: {list(longer)}"
                )


def _bad_path() -> DynamoError:
    return invalid("The document path provided in the update expression is invalid for update")


def _container(item: Item, path: Path) -> Any:
    """The map (dict of names) or list holding the last step of ``path``."""
    current: Any = item
    for part in path[:-1]:
        if isinstance(part, int):
            value = current[part] if isinstance(current, list) and part < len(current) else None
        else:
            value = current.get(part) if isinstance(current, dict) else None
        if value is None or ("M" not in value and "L" not in value):
            raise _bad_path()
        current = value["M"] if "M" in value else value["L"]
    return current


def _set_path(item: Item, path: Path, value: AttributeValue) -> None:
    holder = _container(item, path)
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(holder, list):
            raise _bad_path()
        if last < len(holder):
            holder[last] = value
        else:
            holder.append(value)
    else:
        if not isinstance(holder, dict):
            raise _bad_path()
        holder[last] = value


def _remove_path(item: Item, path: Path) -> None:
    try:
        holder = _container(item, path)
    except DynamoError:
        return
    last = path[-1]
    if isinstance(last, int) and isinstance(holder, list):
        if last < len(holder):
            del holder[last]
    elif isinstance(last, str) and isinstance(holder, dict):
        holder.pop(last, None)


def _add(item: Item, path: Path, value: AttributeValue) -> None:
    current = get_path(item, path)
    kind = type_of(value)
    if current is None:
        if kind not in ("N", "SS", "NS", "BS"):
            raise invalid(
                "Invalid UpdateExpression: Incorrect operand type for operator or "
                f"function; operator: ADD, operand type: {kind}"
            )
        _set_path(item, path, value)
        return
    if type_of(current) != kind:
        raise invalid("An operand in the update expression has an incorrect data type")
    if kind == "N":
        total = number(current["N"]) + number(value["N"])
        _set_path(item, path, {"N": format_number(total)})
    elif kind in ("SS", "NS", "BS"):
        merged = list(current[kind])
        merged += [
            e for e in value[kind] if not any(equal({kind[0]: e}, {kind[0]: m}) for m in merged)
        ]
        _set_path(item, path, {kind: merged})
    else:
        raise invalid(
            "Invalid UpdateExpression: Incorrect operand type for operator or "
            f"function; operator: ADD, operand type: {kind}"
        )


def _delete(item: Item, path: Path, value: AttributeValue) -> None:
    current = get_path(item, path)
    kind = type_of(value)
    if kind not in ("SS", "NS", "BS"):
        raise invalid(
            "Invalid UpdateExpression: Incorrect operand type for operator or "
            f"function; operator: DELETE, operand type: {kind}"
        )
    if current is None:
        return
    if type_of(current) != kind:
        raise invalid("An operand in the update expression has an incorrect data type")
    kept = [
        e for e in current[kind] if not any(equal({kind[0]: e}, {kind[0]: v}) for v in value[kind])
    ]
    if kept:
        _set_path(item, path, {kind: kept})
    else:
        _remove_path(item, path)


# --------------------------------------------------------------------------- projection


def project(item: Item, paths: tuple[Attr, ...], env: Env) -> Item:
    """The item reduced to ``paths`` (nested maps kept as maps, list elements in order)."""
    out: Item = {}
    for attr in paths:
        path = env.resolve(attr.path)
        found = get_path(item, path)
        if found is None:
            continue
        if len(path) == 1:
            out[str(path[0])] = found
            continue
        holder: Any = out
        for index, part in enumerate(path[:-1]):
            following = path[index + 1]
            empty: AttributeValue = {"L": []} if isinstance(following, int) else {"M": {}}
            if isinstance(holder, dict):
                holder = holder.setdefault(part, empty)
            else:
                holder.append(empty)
                holder = holder[-1]
            holder = holder["L"] if "L" in holder else holder["M"]
        last = path[-1]
        if isinstance(holder, dict):
            holder[last] = found
        else:
            holder.append(found)
    return out
