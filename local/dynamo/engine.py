"""The DynamoDB operations, on in-memory tables, request dict in and reply dict out.

Requests and replies have the JSON shapes of DynamoDB's wire protocol, so the HTTP front
only decodes and encodes. One lock guards every table: each operation, a transaction
included, is atomic and isolated, as on DynamoDB (which is per item, and serializable for
transactions). TTL: an item whose TTL has passed disappears at the first read or write
that meets it, or at the next :meth:`Engine.sweep`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from local.dynamo import expressions as ex
from local.dynamo import updates
from local.dynamo.errors import DynamoError, condition_failed, not_found
from local.dynamo.keys import KeyCondition, resume
from local.dynamo.tables import Table
from local.dynamo.values import Item, check_item

REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
MAX_PAGE_BYTES = 1024 * 1024
Reply = dict[str, Any]


def invalid(message: str) -> DynamoError:
    return DynamoError("ValidationException", message)


class Engine:
    """Every table of one emulator; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time, ttl: bool = True) -> None:
        self.tables: dict[str, Table] = {}
        self.lock = threading.RLock()
        self.clock = clock
        self.ttl = ttl  # False: TTL is recorded but items never expire
        self.operations: dict[str, Callable[[dict[str, Any]], Reply]] = {
            name: getattr(self, _snake(name))
            for name in (
                "CreateTable", "DescribeTable", "DeleteTable", "ListTables",
                "UpdateTimeToLive", "DescribeTimeToLive", "PutItem", "GetItem", "DeleteItem",
                "UpdateItem", "Query", "Scan", "BatchWriteItem", "BatchGetItem",
                "TransactWriteItems", "TransactGetItems",
            )
        }  # fmt: skip

    def handle(self, operation: str, request: dict[str, Any]) -> Reply:
        method = self.operations.get(operation)
        if method is None:
            raise DynamoError("UnknownOperationException", f"Unknown operation {operation}")
        with self.lock:
            return method(request)

    # ------------------------------------------------------------------ tables

    def table_of(self, request: dict[str, Any], field: str = "TableName") -> Table:
        name = request.get(field)
        table = self.tables.get(name) if isinstance(name, str) else None
        if table is None:
            raise not_found(f"Requested resource not found: Table: {name} not found")
        return table

    def create_table(self, request: dict[str, Any]) -> Reply:
        name = request.get("TableName")
        if not isinstance(name, str) or not 3 <= len(name) <= 255:
            raise invalid("TableName must be at least 3 characters long and at most 255")
        if request.get("GlobalSecondaryIndexes") or request.get("LocalSecondaryIndexes"):
            raise invalid("Secondary indexes are not supported by this emulator")
        definitions = {
            d["AttributeName"]: d["AttributeType"] for d in request.get("AttributeDefinitions", [])
        }
        schema = {k["KeyType"]: k["AttributeName"] for k in request.get("KeySchema", [])}
        if "HASH" not in schema or len(schema) != len(request.get("KeySchema", [])):
            raise invalid("Invalid KeySchema: exactly one HASH key and at most one RANGE key")
        for key in schema.values():
            if definitions.get(key) not in ("S", "N", "B"):
                raise invalid(
                    "One or more parameter values were invalid: Some index key "
                    "attributes are not defined in AttributeDefinitions"
                )
        if set(definitions) != set(schema.values()):
            raise invalid(
                "One or more parameter values were invalid: Number of attributes in "
                "KeySchema does not exactly match number of attributes defined in "
                "AttributeDefinitions"
            )
        if name in self.tables:
            raise DynamoError("ResourceInUseException", f"Table already exists: {name}")
        table = Table(
            name, schema["HASH"], schema.get("RANGE"), definitions,
            list(request["AttributeDefinitions"]),
            request.get("BillingMode", "PROVISIONED"), self.clock(),
        )  # fmt: skip
        self.tables[name] = table
        return {"TableDescription": self._describe(table)}

    def _describe(self, table: Table, status: str = "ACTIVE") -> Reply:
        schema = [{"AttributeName": table.hash_key, "KeyType": "HASH"}]
        if table.range_key is not None:
            schema.append({"AttributeName": table.range_key, "KeyType": "RANGE"})
        return {
            "TableName": table.name,
            "TableStatus": status,
            "KeySchema": schema,
            "AttributeDefinitions": table.definitions,
            "CreationDateTime": table.created,
            "ItemCount": table.item_count,
            "TableSizeBytes": table.size_bytes,
            "TableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{table.name}",
            "TableId": table.table_id,
            "BillingModeSummary": {"BillingMode": table.billing_mode},
            "ProvisionedThroughput": {
                "NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0,
            },
            "DeletionProtectionEnabled": False,
        }  # fmt: skip

    def describe_table(self, request: dict[str, Any]) -> Reply:
        return {"Table": self._describe(self.table_of(request))}

    def delete_table(self, request: dict[str, Any]) -> Reply:
        table = self.table_of(request)
        del self.tables[table.name]
        return {"TableDescription": self._describe(table, "DELETING")}

    def list_tables(self, request: dict[str, Any]) -> Reply:
        names = sorted(self.tables)
        start = request.get("ExclusiveStartTableName")
        if start is not None:
            names = [n for n in names if n > start]
        limit = int(request.get("Limit", 100))
        reply: Reply = {"TableNames": names[:limit]}
        if len(names) > limit:
            reply["LastEvaluatedTableName"] = names[limit - 1]
        return reply

    def update_time_to_live(self, request: dict[str, Any]) -> Reply:
        table = self.table_of(request)
        spec = request.get("TimeToLiveSpecification") or {}
        enabled, attribute = spec.get("Enabled"), spec.get("AttributeName")
        if not isinstance(enabled, bool) or not isinstance(attribute, str) or not attribute:
            raise invalid("TimeToLiveSpecification needs Enabled and AttributeName")
        if enabled and table.ttl_attribute is not None:
            raise invalid("TimeToLive is already enabled")
        if not enabled and table.ttl_attribute is None:
            raise invalid("TimeToLive is already disabled")
        table.ttl_attribute = attribute if enabled else None
        return {"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}

    def describe_time_to_live(self, request: dict[str, Any]) -> Reply:
        table = self.table_of(request)
        if table.ttl_attribute is None:
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
        return {"TimeToLiveDescription": {
            "TimeToLiveStatus": "ENABLED", "AttributeName": table.ttl_attribute,
        }}  # fmt: skip

    def sweep(self) -> int:
        """Delete every expired item of every table; how many were deleted."""
        if not self.ttl:
            return 0
        deleted = 0
        with self.lock:
            now = self.clock()
            for table in self.tables.values():
                if table.ttl_attribute is None:
                    continue
                for item, _ in list(table.iter_from(None)):
                    if table.expired(item, now):
                        table.delete(*table.item_key_values(item))
                        deleted += 1
        return deleted

    # ------------------------------------------------------------------ items

    def live(self, table: Table, hk: Any, sk: Any) -> Item | None:
        """The stored item, or None; an expired item is deleted on the way."""
        entry = table.get(hk, sk)
        if entry is None:
            return None
        if self.ttl and table.expired(entry[0], self.clock()):
            table.delete(hk, sk)
            return None
        return entry[0]

    def _condition(self, request: dict[str, Any], env: ex.Env, old: Item | None) -> None:
        text = request.get("ConditionExpression")
        if text is None:
            return
        parsed = env.use(ex.parse_condition(text))
        if not ex.evaluate(parsed.tree, old or {}, env):
            returned = (
                old if request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
            )
            raise condition_failed(returned)

    def put_item(self, request: dict[str, Any]) -> Reply:
        table = self.table_of(request)
        item, size = check_item(request.get("Item"))
        hk, sk = table.item_key_values(item)
        env = ex.env_of(request)
        old = self.live(table, hk, sk)
        self._condition(request, env, old)
        env.check_all_used()
        returns = request.get("ReturnValues", "NONE")
        if returns not in ("NONE", "ALL_OLD"):
            raise invalid("Return values set to invalid value")
        table.put(hk, sk, item, size)
        return {"Attributes": old} if returns == "ALL_OLD" and old else {}

    def get_item(self, request: dict[str, Any]) -> Reply:
        table = self.table_of(request)
        hk, sk = table.key_values(request.get("Key", {}))
        env = ex.env_of(request)
        projection = _projection(request, env)
        env.check_all_used()
        item = self.live(table, hk, sk)
        if item is None:
            return {}
        return {"Item": item if projection is None else updates.project(item, projection, env)}

    def delete_item(self, request: dict[str, Any]) -> Reply:
        table = self.table_of(request)
        hk, sk = table.key_values(request.get("Key", {}))
        env = ex.env_of(request)
        old = self.live(table, hk, sk)
        self._condition(request, env, old)
        env.check_all_used()
        returns = request.get("ReturnValues", "NONE")
        if returns not in ("NONE", "ALL_OLD"):
            raise invalid("Return values set to invalid value")
        if old is not None:
            table.delete(hk, sk)
        return {"Attributes": old} if returns == "ALL_OLD" and old else {}

    def update_item(self, request: dict[str, Any]) -> Reply:
        table = self.table_of(request)
        key = request.get("Key", {})
        hk, sk = table.key_values(key)
        env = ex.env_of(request)
        old = self.live(table, hk, sk)
        self._condition(request, env, old)
        new, touched = self.updated(table, request, env, key, old)
        env.check_all_used()
        item, size = check_item(new)
        table.put(hk, sk, item, size)
        returns = request.get("ReturnValues", "NONE")
        if returns == "ALL_NEW":
            return {"Attributes": item}
        if returns == "ALL_OLD":
            return {"Attributes": old} if old else {}
        if returns in ("UPDATED_NEW", "UPDATED_OLD"):
            source = item if returns == "UPDATED_NEW" else (old or {})
            changed = {n: source[n] for n in touched if n in source}
            return {"Attributes": changed} if changed else {}
        if returns != "NONE":
            raise invalid("Return values set to invalid value")
        return {}

    def updated(
        self,
        table: Table,
        request: dict[str, Any],
        env: ex.Env,
        key: dict[str, Any],
        old: Item | None,
    ) -> tuple[Item, set[str]]:
        base: Item = dict(old) if old is not None else dict(key)
        text = request.get("UpdateExpression")
        if text is None:
            if request.get("AttributeUpdates"):
                raise invalid("AttributeUpdates is not supported; use an UpdateExpression")
            return base, set()
        parsed = env.use(ex.parse_update(text))
        return updates.apply_update(parsed.tree, base, env, table.key_names)

    # ------------------------------------------------------------------ query and scan

    def query(self, request: dict[str, Any]) -> Reply:
        table = self.table_of(request)
        if request.get("IndexName"):
            raise not_found("Requested resource not found: secondary indexes are not supported")
        env = ex.env_of(request)
        text = request.get("KeyConditionExpression")
        if not isinstance(text, str):
            raise invalid(
                "Either the KeyConditions or KeyConditionExpression parameter must "
                "be specified in the request."
            )
        parsed = env.use(ex.parse_condition(text, "KeyConditionExpression"))
        bounds = KeyCondition.of(parsed.tree, table, env)
        filter_, projection, select = self._read_options(request, env)
        env.check_all_used()
        start = request.get("ExclusiveStartKey")
        after = table.key_values(start, "ExclusiveStartKey") if start is not None else None
        if after is not None and after[0] != bounds.hash_value:
            raise invalid(
                "The provided starting key is invalid: The provided key element does "
                "not match the schema"
            )
        partition = table.partitions.get(bounds.hash_value)
        entries: Any = ()
        if partition is not None and table.range_key is None:
            entries = list(partition.items.values())
        elif partition is not None:
            keys = partition.keys
            first, end = bounds.span(keys)
            forward = request.get("ScanIndexForward", True)
            if after is not None:
                first, end = resume(keys, first, end, after[1], forward)
            indexes = range(first, end) if forward else range(end - 1, first - 1, -1)
            entries = (partition.items[keys[i]] for i in indexes)
        return self._page(table, entries, request, env, filter_, projection, select)

    def scan(self, request: dict[str, Any]) -> Reply:
        table = self.table_of(request)
        env = ex.env_of(request)
        filter_, projection, select = self._read_options(request, env)
        env.check_all_used()
        start = request.get("ExclusiveStartKey")
        after = table.key_values(start, "ExclusiveStartKey") if start is not None else None
        segments = int(request.get("TotalSegments", 1))
        segment = int(request.get("Segment", 0))
        if not 0 <= segment < segments:
            raise invalid("The Segment parameter must be less than TotalSegments")
        entries = table.iter_from(after, segment, segments)
        return self._page(table, entries, request, env, filter_, projection, select)

    def _read_options(self, request: dict[str, Any], env: ex.Env) -> tuple[Any, Any, str]:
        text = request.get("FilterExpression")
        filter_ = (
            None if text is None else env.use(ex.parse_condition(text, "FilterExpression")).tree
        )
        projection = _projection(request, env)
        select = request.get("Select") or (
            "SPECIFIC_ATTRIBUTES" if projection is not None else "ALL_ATTRIBUTES"
        )
        if select not in ("ALL_ATTRIBUTES", "COUNT", "SPECIFIC_ATTRIBUTES"):
            raise invalid(f"Select {select} is not supported")
        if select == "COUNT" and projection is not None:
            raise invalid(
                "Cannot specify the AttributesToGet or ProjectionExpression when "
                "choosing to get only the COUNT"
            )
        return filter_, projection, select

    def _page(
        self,
        table: Table,
        entries: Any,
        request: dict[str, Any],
        env: ex.Env,
        filter_: Any,
        projection: Any,
        select: str,
    ) -> Reply:
        limit = request.get("Limit")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise invalid(
                "1 validation error detected: Value at 'limit' failed to satisfy "
                "constraint: Member must have value greater than or equal to 1"
            )
        now = self.clock()
        items: list[Item] = []
        expired: list[Item] = []
        scanned = 0
        read_bytes = 0
        last: Item | None = None
        for item, size in entries:
            if self.ttl and table.expired(item, now):
                expired.append(item)
                continue
            scanned += 1
            read_bytes += size
            if filter_ is None or ex.evaluate(filter_, item, env):
                items.append(item)
            if scanned == limit or read_bytes >= MAX_PAGE_BYTES:
                last = item  # DynamoDB stops here, whether or not more items follow
                break
        for item in expired:
            table.delete(*table.item_key_values(item))
        reply: Reply = {"Count": len(items), "ScannedCount": scanned}
        if select != "COUNT":
            reply["Items"] = (
                items
                if projection is None
                else [updates.project(i, projection, env) for i in items]
            )
        if last is not None:
            reply["LastEvaluatedKey"] = table.key_of(last)
        return reply

    # ------------------------------------------------------------------ batches

    def batch_write_item(self, request: dict[str, Any]) -> Reply:
        writes: list[tuple[Table, str, Any]] = []
        seen: set[tuple[str, Any, Any]] = set()
        for name, requests in (request.get("RequestItems") or {}).items():
            table = self.table_of({"TableName": name})
            for entry in requests:
                if "PutRequest" in entry:
                    item, size = check_item(entry["PutRequest"].get("Item"))
                    where = table.item_key_values(item)
                    writes.append((table, "put", (where, item, size)))
                else:
                    where = table.key_values(entry.get("DeleteRequest", {}).get("Key", {}))
                    writes.append((table, "delete", where))
                if (name, *where) in seen:
                    raise invalid("Provided list of item keys contains duplicates")
                seen.add((name, *where))
        if not 1 <= len(writes) <= 25:
            raise invalid(
                "Too many items requested for the BatchWriteItem call"
                if writes
                else "BatchWriteItem needs at least one request"
            )
        for table, action, body in writes:
            if action == "put":
                (hk, sk), item, size = body
                table.put(hk, sk, item, size)
            else:
                table.delete(*body)
        return {"UnprocessedItems": {}}

    def batch_get_item(self, request: dict[str, Any]) -> Reply:
        responses: dict[str, list[Item]] = {}
        total = 0
        for name, spec in (request.get("RequestItems") or {}).items():
            table = self.table_of({"TableName": name})
            env = ex.env_of(spec)
            projection = _projection(spec, env)
            env.check_all_used()
            found = responses.setdefault(name, [])
            for key in spec.get("Keys", []):
                total += 1
                item = self.live(table, *table.key_values(key))
                if item is not None:
                    found.append(
                        item if projection is None else updates.project(item, projection, env)
                    )
        if total > 100:
            raise invalid("Too many items requested for the BatchGetItem call")
        return {"Responses": responses, "UnprocessedKeys": {}}

    def transact_get_items(self, request: dict[str, Any]) -> Reply:
        replies: list[Reply] = []
        for entry in request.get("TransactItems", []):
            reply = self.get_item(entry.get("Get", {}))
            replies.append({"Item": reply["Item"]} if "Item" in reply else {})
        return {"Responses": replies}

    def transact_write_items(self, request: dict[str, Any]) -> Reply:
        from local.dynamo.transactions import transact_write

        return transact_write(self, request)


def _projection(request: dict[str, Any], env: ex.Env) -> tuple[ex.Attr, ...] | None:
    text = request.get("ProjectionExpression")
    if text is None:
        return None
    tree: tuple[ex.Attr, ...] = env.use(ex.parse_projection(text)).tree
    return tree


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
