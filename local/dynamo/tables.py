"""In-memory tables: partitions by hash key, each a sorted list of its sort keys.

A Query is a dictionary lookup and two bisections, whatever the size of the table, so
reading a room's subscriptions costs what it costs on DynamoDB: the items of one partition.
Items are never changed in place (an update stores a new dict), so a reply may hand out
stored dicts without copying them.
"""

from __future__ import annotations

import time
import uuid
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from local.dynamo.errors import DynamoError
from local.dynamo.values import AttributeValue, Item, sort_value

FIVE_YEARS = 5 * 365 * 24 * 3600  # DynamoDB never deletes items that expired longer ago


def invalid(message: str) -> DynamoError:
    return DynamoError("ValidationException", message)


@dataclass
class Partition:
    keys: list[Any] = field(default_factory=list)  # sorted sort-key values
    items: dict[Any, tuple[Item, int]] = field(default_factory=dict)  # value -> (item, size)


@dataclass
class Table:
    name: str
    hash_key: str
    range_key: str | None
    key_types: dict[str, str]
    definitions: list[dict[str, str]]
    billing_mode: str = "PAY_PER_REQUEST"
    created: float = field(default_factory=time.time)
    table_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    ttl_attribute: str | None = None
    partitions: dict[Any, Partition] = field(default_factory=dict)
    item_count: int = 0
    size_bytes: int = 0
    _order: list[Any] | None = None

    @property
    def key_names(self) -> frozenset[str]:
        return frozenset(n for n in (self.hash_key, self.range_key) if n is not None)

    # -- keys

    def key_values(self, key: dict[str, Any], where: str = "key") -> tuple[Any, Any]:
        """The (hash, sort) Python values of a Key; it must name exactly the key attributes."""
        if not isinstance(key, dict) or set(key) != self.key_names:
            raise invalid("The provided key element does not match the schema")
        return self._value(key, self.hash_key, where), (
            self._value(key, self.range_key, where) if self.range_key else None
        )

    def item_key_values(self, item: Item) -> tuple[Any, Any]:
        for name in (self.hash_key, self.range_key):
            if name is not None and name not in item:
                raise invalid(
                    f"One or more parameter values were invalid: Missing the key {name} in the item"
                )
        return self._value(item, self.hash_key, "item"), (
            self._value(item, self.range_key, "item") if self.range_key else None
        )

    def _value(self, source: dict[str, Any], name: str, where: str) -> Any:
        value = source[name]
        expected = self.key_types[name]
        if not isinstance(value, dict) or expected not in value:
            actual = next(iter(value), "?") if isinstance(value, dict) else "?"
            raise invalid(
                f"One or more parameter values were invalid: Type mismatch for key "
                f"{name} expected: {expected} actual: {actual}"
            )
        body = value[expected]
        if body == "" and expected in ("S", "B"):
            raise invalid(
                "One or more parameter values are not valid. The AttributeValue for "
                f"a key attribute cannot contain an empty string value. Key: {name}"
            )
        return sort_value(value)

    def key_of(self, item: Item) -> dict[str, AttributeValue]:
        return {name: item[name] for name in (self.hash_key, self.range_key) if name is not None}

    # -- storage

    def get(self, hk: Any, sk: Any) -> tuple[Item, int] | None:
        partition = self.partitions.get(hk)
        return None if partition is None else partition.items.get(sk)

    def put(self, hk: Any, sk: Any, item: Item, size: int) -> None:
        partition = self.partitions.get(hk)
        if partition is None:
            partition = self.partitions[hk] = Partition()
            self._order = None
        old = partition.items.get(sk)
        if old is None:
            if self.range_key is not None:
                partition.keys.insert(bisect_left(partition.keys, sk), sk)
            self.item_count += 1
        else:
            self.size_bytes -= old[1]
        partition.items[sk] = (item, size)
        self.size_bytes += size

    def delete(self, hk: Any, sk: Any) -> Item | None:
        partition = self.partitions.get(hk)
        if partition is None:
            return None
        old = partition.items.pop(sk, None)
        if old is None:
            return None
        if self.range_key is not None:
            del partition.keys[bisect_left(partition.keys, sk)]
        self.item_count -= 1
        self.size_bytes -= old[1]
        if not partition.items:
            del self.partitions[hk]
            self._order = None
        return old[0]

    def expired(self, item: Item, now: float) -> bool:
        """Whether DynamoDB's TTL process would delete the item by now."""
        if self.ttl_attribute is None:
            return False
        value = item.get(self.ttl_attribute)
        if value is None or "N" not in value:
            return False
        try:
            at = Decimal(value["N"])
        except ArithmeticError:
            return False
        return now - FIVE_YEARS < at <= now

    # -- reading in order

    def scan_order(self) -> list[Any]:
        """Every partition's hash value, in a stable order that paging can resume from."""
        if self._order is None:
            self._order = sorted(self.partitions)
        return self._order

    def iter_from(
        self, start: tuple[Any, Any] | None, segment: int = 0, segments: int = 1
    ) -> Iterator[tuple[Item, int]]:
        """Items in scan order, after the ``start`` key when given."""
        order = self.scan_order()
        first = 0 if start is None else bisect_left(order, start[0])
        for hk in order[first:]:
            if segments > 1 and zlib.crc32(repr(hk).encode()) % segments != segment:
                continue
            partition = self.partitions.get(hk)
            if partition is None:
                continue
            if self.range_key is None:
                if start is not None and hk == start[0]:
                    continue
                yield from list(partition.items.values())
                continue
            keys = partition.keys
            index = bisect_right(keys, start[1]) if start is not None and hk == start[0] else 0
            for sk in keys[index:]:
                entry = partition.items.get(sk)
                if entry is not None:
                    yield entry
