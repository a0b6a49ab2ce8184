"""The DynamoDB connection table: who is connected, and who listens where.

One table, four kinds of item, every one with the TTL attribute ``expiresAt``:

- ``CONN#{cid} / META`` - the connection: user, token, STOMP state, connectedAt.
- ``CONN#{cid} / SUB#{subId}`` - a subscription, read when the connection goes away.
- ``CONN#{cid} / DEST#{destination}`` - the guard that gives a connection one subscription
  per destination (written in the same transaction as the subscription).
- ``ROOM#{roomId} / CONN#{cid}#{subId}`` - the index fan-out Queries (one partition per room).
- ``USER#{userId} / CONN#{cid}`` - the user's live connection, and
  ``USER#{userId} / CONN#{cid}#{subId}`` - a user-queue subscription (``/user/queue/...``).

A connection lives at most 2 h on API Gateway, so ``expiresAt`` is ``connectedAt + 2 h 10 min``
on all of its items: whatever ``$disconnect`` (best effort), the sweeper and 410 Gone miss,
DynamoDB removes. Fan-out reads one room partition with a Query, page by page; only the
sweeper scans (:meth:`ConnectionTable.iter_connections`).

Caps hold by construction, not by a read before the write: the META item counts the
connection's subscriptions (``subCount``, raised in the subscribing transaction under the
condition that it is below the cap), and the ``DEST#`` guard makes a second subscription to
the same destination fail its condition, however many SUBSCRIBEs run at once.

The low-level client (not the resource layer) is used because it is cheaper to import and to
create on a cold start. Connection ids from API Gateway never contain ``#``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chatflow.ws.table_errors import (
    AlreadySubscribed,
    DuplicateSubscription,
    TableWriteError,
    TooManySubscriptions,
    UnknownConnection,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
        ScanInputTypeDef,
        WriteRequestTypeDef,
    )

    from chatflow.ws.lean_dynamodb import LeanDynamoDB

    Item = dict[str, AttributeValueTypeDef]

CONNECTION_TTL_SECONDS = 2 * 3600 + 10 * 60
"""API Gateway's maximum connection life (2 h) plus a margin for the sweeper."""

STATE_OPEN = "open"  # socket open, STOMP CONNECT not yet accepted
STATE_CONNECTED = "connected"
STATE_REFUSED = "refused"  # the user had too many connections: the first frame gets ERROR
BATCH_WRITE_MAX = 25  # DynamoDB BatchWriteItem limit
BATCH_WRITE_ATTEMPTS = 8

__all__ = [
    "AlreadySubscribed",
    "ConnectionRecord",
    "ConnectionTable",
    "DuplicateSubscription",
    "Subscription",
    "TableWriteError",
    "TooManySubscriptions",
    "UnknownConnection",
]


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """The META item of one connection."""

    connection_id: str
    connected_at: int  # epoch milliseconds
    state: str = STATE_OPEN
    user_id: str | None = None
    username: str | None = None
    token_expires_at: int | None = None  # epoch seconds
    token_issued_at: int | None = None  # epoch seconds
    jti: str | None = None
    stomp_version: str | None = None
    source_ip: str | None = None
    display_name: str | None = None  # from the token, for presence and typing events
    credential_version: int | None = None  # the token's ``cv``; None: not recorded
    offered_version: str | None = None  # from the subprotocol picked at $connect (pipelining)
    user_indexed: bool = False  # USER#/CONN# written at $connect (identity known then)

    @property
    def expires_at(self) -> int:
        """The TTL of every item of this connection (epoch seconds)."""
        return self.connected_at // 1000 + CONNECTION_TTL_SECONDS


@dataclass(frozen=True, slots=True)
class Subscription:
    """One STOMP subscription; ``room_id`` is None for a user queue."""

    connection_id: str
    subscription_id: str
    destination: str
    room_id: str | None
    user_id: str


# --------------------------------------------------------------------------- item codec


def _conn_pk(cid: str) -> str:
    return f"CONN#{cid}"


def _index_key(sub: Subscription) -> tuple[str, str]:
    """Where fan-out finds the subscription: the room partition or the user partition."""
    owner = f"ROOM#{sub.room_id}" if sub.room_id is not None else f"USER#{sub.user_id}"
    return owner, f"CONN#{sub.connection_id}#{sub.subscription_id}"


def _key(pk: str, sk: str) -> Item:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def meta_item(record: ConnectionRecord) -> Item:
    """The ``CONN#{cid} / META`` item of ``record``."""
    item = _key(_conn_pk(record.connection_id), "META")
    item["connectionId"] = {"S": record.connection_id}
    item["state"] = {"S": record.state}
    item["connectedAt"] = {"N": str(record.connected_at)}
    item["expiresAt"] = {"N": str(record.expires_at)}
    for name, text in (
        ("userId", record.user_id),
        ("username", record.username),
        ("jti", record.jti),
        ("stompVersion", record.stomp_version),
        ("sourceIp", record.source_ip),
        ("displayName", record.display_name),
        ("offeredVersion", record.offered_version),
    ):
        if text is not None:
            item[name] = {"S": text}
    if record.user_indexed:
        item["userIndexed"] = {"BOOL": True}
    for name, number in (
        ("tokenExpiresAt", record.token_expires_at),
        ("tokenIssuedAt", record.token_issued_at),
        ("credentialVersion", record.credential_version),
    ):
        if number is not None:
            item[name] = {"N": str(number)}
    return item


def _guard_key(sub: Subscription) -> tuple[str, str]:
    """The ``DEST#`` item that allows one subscription per destination and connection."""
    return _conn_pk(sub.connection_id), f"DEST#{sub.destination}"


def _keys_of(sub: Subscription) -> list[tuple[str, str]]:
    """Every item a subscription owns: its own, its fan-out index and its guard."""
    return [
        (_conn_pk(sub.connection_id), f"SUB#{sub.subscription_id}"),
        _index_key(sub),
        _guard_key(sub),
    ]


def subscription_items(sub: Subscription, expires_at: int) -> tuple[Item, Item]:
    """The ``SUB#`` item and its ``ROOM#``/``USER#`` index item (same attributes)."""
    body: Item = {
        "connectionId": {"S": sub.connection_id},
        "subscriptionId": {"S": sub.subscription_id},
        "destination": {"S": sub.destination},
        "userId": {"S": sub.user_id},
        "expiresAt": {"N": str(expires_at)},
    }
    if sub.room_id is not None:
        body["roomId"] = {"S": sub.room_id}
    own = _key(_conn_pk(sub.connection_id), f"SUB#{sub.subscription_id}") | body
    index = _key(*_index_key(sub)) | body
    return own, index


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["S"])


def _number(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    return None if value is None else int(value["N"])


def _record(item: Mapping[str, Any]) -> ConnectionRecord:
    return ConnectionRecord(
        connection_id=str(item["connectionId"]["S"]),
        connected_at=int(item["connectedAt"]["N"]),
        state=str(item["state"]["S"]),
        user_id=_text(item, "userId"),
        username=_text(item, "username"),
        token_expires_at=_number(item, "tokenExpiresAt"),
        token_issued_at=_number(item, "tokenIssuedAt"),
        jti=_text(item, "jti"),
        stomp_version=_text(item, "stompVersion"),
        source_ip=_text(item, "sourceIp"),
        display_name=_text(item, "displayName"),
        offered_version=_text(item, "offeredVersion"),
        user_indexed=bool(item.get("userIndexed", {}).get("BOOL", False)),
        credential_version=_number(item, "credentialVersion"),
    )


def _subscription(item: Mapping[str, Any]) -> Subscription:
    return Subscription(
        connection_id=str(item["connectionId"]["S"]),
        subscription_id=str(item["subscriptionId"]["S"]),
        destination=str(item["destination"]["S"]),
        room_id=_text(item, "roomId"),
        user_id=str(item["userId"]["S"]),
    )


# --------------------------------------------------------------------------- the table


class ConnectionTable:
    """Typed access to the connection table; every method is one or a few round trips."""

    def __init__(
        self,
        name: str,
        client: DynamoDBClient | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        lean_reads: bool = True,
        subscription_limit: int = 100,
    ) -> None:
        """``lean_reads``: read room pages through :class:`LeanDynamoDB` (fan-out's hot
        read, where botocore's parsing of 1,000 items costs about 50 ms of CPU).
        ``subscription_limit``: the most subscriptions one connection may hold."""
        self.name = name
        self.subscription_limit = subscription_limit
        self._client = client
        self._endpoint_url = endpoint_url or None
        self._region = region
        self._lean_reads = lean_reads
        self._reader: LeanDynamoDB | None = None

    @property
    def client(self) -> DynamoDBClient:
        """The low-level client, built on first use so an unused table costs no cold start."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "dynamodb",
                endpoint_url=self._endpoint_url,
                region_name=self._region,
                config=Config(connect_timeout=1.0, read_timeout=3.0, retries={"mode": "standard"}),
            )
        return self._client

    @property
    def reader(self) -> LeanDynamoDB:
        """The lean ``Query`` client, at the botocore client's endpoint and region (that
        of the client given, or what botocore would resolve), built on first use."""
        if self._reader is None:
            from chatflow.ws.lean_dynamodb import LeanDynamoDB, resolve_endpoint

            if self._client is not None:
                meta = self._client.meta
                endpoint, region = meta.endpoint_url, meta.region_name
            else:
                endpoint, region = resolve_endpoint(self._endpoint_url, self._region)
            self._reader = LeanDynamoDB(endpoint, region)
        return self._reader

    # ------------------------------------------------------------------ connections

    def put_connection(self, record: ConnectionRecord) -> None:
        self.client.put_item(TableName=self.name, Item=meta_item(record))

    def get_connection(self, cid: str) -> ConnectionRecord | None:
        """The META item, read consistently (it may have been written a moment ago)."""
        reply = self.client.get_item(
            TableName=self.name, Key=_key(_conn_pk(cid), "META"), ConsistentRead=True
        )
        item = reply.get("Item")
        return None if item is None else _record(item)

    def add_user_connection(self, cid: str, user_id: str, expires_at: int) -> None:
        """Index the connection under its user (``USER#{userId} / CONN#{cid}``).

        Written before anything can subscribe on the connection: a removal from a room
        finds the user's subscriptions through this index, so a subscription whose
        connection is not indexed yet could escape it.
        """
        item = _key(f"USER#{user_id}", f"CONN#{cid}")
        item["connectionId"] = {"S": cid}
        item["userId"] = {"S": user_id}
        item["expiresAt"] = {"N": str(expires_at)}
        self.client.put_item(TableName=self.name, Item=item)

    def remove_user_connection(self, cid: str, user_id: str) -> None:
        self.client.delete_item(TableName=self.name, Key=_key(f"USER#{user_id}", f"CONN#{cid}"))

    def refuse_connection(self, cid: str) -> None:
        """Mark the connection refused (its user has too many): every frame gets ERROR."""
        try:
            self.client.update_item(
                TableName=self.name,
                Key=_key(_conn_pk(cid), "META"),
                UpdateExpression="SET #state = :state",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":state": {"S": STATE_REFUSED}},
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise

    def mark_connected(
        self,
        cid: str,
        user_id: str,
        username: str,
        token_expires_at: int,
        token_issued_at: int,
        jti: str,
        stomp_version: str,
        display_name: str | None = None,
        credential_version: int = 0,
        *,
        indexed: bool = False,
    ) -> None:
        """STOMP CONNECT accepted: record who is on the connection and index it by user.

        The user index is written first (unless ``indexed``: the caller wrote it), so that
        a connection seen as connected is always one that a removal from a room can find.
        Raises :class:`UnknownConnection` when the META item is gone (disconnected
        meanwhile), after taking back an index it wrote.
        """
        if not indexed:
            record = self.get_connection(cid)
            if record is None:
                raise UnknownConnection(cid)
            self.add_user_connection(cid, user_id, record.expires_at)
        try:
            self.client.update_item(
                TableName=self.name,
                Key=_key(_conn_pk(cid), "META"),
                UpdateExpression=(
                    "SET #state = :state, userId = :uid, username = :name, "
                    "tokenExpiresAt = :exp, tokenIssuedAt = :iat, jti = :jti, stompVersion = :ver, "
                    "credentialVersion = :cv"
                    + (", displayName = :dn" if display_name is not None else "")
                ),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":state": {"S": STATE_CONNECTED},
                    ":uid": {"S": user_id},
                    ":name": {"S": username},
                    ":exp": {"N": str(token_expires_at)},
                    ":iat": {"N": str(token_issued_at)},
                    ":jti": {"S": jti},
                    ":ver": {"S": stomp_version},
                    ":cv": {"N": str(credential_version)},
                    **({":dn": {"S": display_name}} if display_name is not None else {}),
                },
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                if not indexed:
                    self.remove_user_connection(cid, user_id)
                raise UnknownConnection(cid) from None
            raise

    def index_user_connection(
        self, cid: str, user_id: str, limit: int, expires_at: int | None = None
    ) -> bool:
        """Index the connection under its user, then hold the user to ``limit`` connections.

        Writing first and counting after (one consistent Query) means concurrent opens
        cannot all pass the cap: each counts the others that wrote before it. One over the
        cap takes its index back and answers False. ``expires_at``: the connection's TTL
        when the caller has it (else the META item is read). Raises
        :class:`UnknownConnection`.
        """
        if expires_at is None:
            record = self.get_connection(cid)
            if record is None:
                raise UnknownConnection(cid)
            expires_at = record.expires_at
        self.add_user_connection(cid, user_id, expires_at)
        if len(self.user_connections(user_id)) <= limit:
            return True
        self.remove_user_connection(cid, user_id)
        return False

    def delete_connection(self, cid: str) -> list[Subscription]:
        """Delete every item of the connection; returns its subscriptions. Idempotent."""
        items = list(self._query_all(_conn_pk(cid), consistent=True))
        subs = [_subscription(i) for i in items if str(i["sk"]["S"]).startswith("SUB#")]
        user_ids = {s.user_id for s in subs}
        user_ids.update(str(i["userId"]["S"]) for i in items if "userId" in i)
        keys = [(_conn_pk(cid), str(i["sk"]["S"])) for i in items]
        keys += [(f"USER#{uid}", f"CONN#{cid}") for uid in user_ids]
        keys += [_index_key(s) for s in subs]
        self._delete_keys(keys)
        return subs

    def user_connections(self, user_id: str) -> list[str]:
        """The ids of the user's connections: those opened with a ticket or bearer token
        (indexed at ``$connect``) and those that authenticated in STOMP CONNECT."""
        items = self._query_all(f"USER#{user_id}", "CONN#", consistent=True)
        return [str(i["connectionId"]["S"]) for i in items if "subscriptionId" not in i]

    def iter_connections(self) -> Iterator[ConnectionRecord]:
        """Every META item, by a paged Scan. For the sweeper only: never on a frame path."""
        scan: ScanInputTypeDef = {
            "TableName": self.name,
            "FilterExpression": "sk = :meta",
            "ExpressionAttributeValues": {":meta": {"S": "META"}},
        }
        while True:
            page = self.client.scan(**scan)
            for item in page.get("Items", []):
                yield _record(item)
            start = page.get("LastEvaluatedKey")
            if start is None:
                return
            scan["ExclusiveStartKey"] = start

    # ------------------------------------------------------------------ subscriptions

    def add_subscription(self, sub: Subscription, expires_at: int | None = None) -> None:
        """Store the subscription, its fan-out index and its destination guard atomically.

        ``expires_at`` is the connection's TTL (:attr:`ConnectionRecord.expires_at`); when
        the caller does not have it, the META item is read. The transaction also raises the
        connection's subscription count under the condition that the connection exists and
        is below :attr:`subscription_limit`, so a SUBSCRIBE racing a disconnect leaves no
        orphan and concurrent SUBSCRIBEs cannot pass the cap. Raises
        :class:`DuplicateSubscription`, :class:`AlreadySubscribed`,
        :class:`TooManySubscriptions` or :class:`UnknownConnection`.
        """
        if expires_at is None:
            record = self.get_connection(sub.connection_id)
            if record is None:
                raise UnknownConnection(sub.connection_id)
            expires_at = record.expires_at
        own, index = subscription_items(sub, expires_at)
        guard = _key(*_guard_key(sub))
        guard["subscriptionId"] = {"S": sub.subscription_id}
        guard["expiresAt"] = {"N": str(expires_at)}
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.name,
                            "Key": _key(_conn_pk(sub.connection_id), "META"),
                            "UpdateExpression": "ADD subCount :one",
                            "ConditionExpression": (
                                "attribute_exists(pk) AND"
                                " (attribute_not_exists(subCount) OR subCount < :limit)"
                            ),
                            "ExpressionAttributeValues": {
                                ":one": {"N": "1"},
                                ":limit": {"N": str(self.subscription_limit)},
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.name,
                            "Item": own,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.name,
                            "Item": guard,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self.name, "Item": index}},
                ]
            )
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise
            self._explain_refusal(sub, exc)

    def _explain_refusal(self, sub: Subscription, exc: ClientError) -> None:
        """Turn a cancelled subscribing transaction into the reason, or into success.

        botocore retries a transaction whose answer timed out; when the first attempt was
        applied, the retry fails its own conditions. Finding exactly this subscription
        stored is then a success, not a client's mistake.
        """
        reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
        failed = [n for n, code in enumerate(reasons) if code == "ConditionalCheckFailed"]
        if not failed:
            raise exc
        if self._same_subscription_stored(sub):
            return
        if 1 in failed:
            raise DuplicateSubscription(sub.subscription_id) from None
        if 2 in failed:
            holder = self.client.get_item(
                TableName=self.name, Key=_key(*_guard_key(sub)), ConsistentRead=True
            ).get("Item")
            held_by = _text(holder, "subscriptionId") if holder else None
            raise AlreadySubscribed(sub.destination, held_by or "?") from None
        if self.get_connection(sub.connection_id) is None:
            raise UnknownConnection(sub.connection_id) from None
        raise TooManySubscriptions(self.subscription_limit) from None

    def _same_subscription_stored(self, sub: Subscription) -> bool:
        """Whether the stored subscription of that id is exactly ``sub``."""
        found = self.client.get_item(
            TableName=self.name,
            Key=_key(_conn_pk(sub.connection_id), f"SUB#{sub.subscription_id}"),
            ConsistentRead=True,
        ).get("Item")
        return found is not None and _subscription(found) == sub

    def remove_subscription(self, cid: str, sub_id: str) -> Subscription | None:
        """UNSUBSCRIBE: delete the subscription and its items; None if it was unknown."""
        found = self.client.get_item(
            TableName=self.name, Key=_key(_conn_pk(cid), f"SUB#{sub_id}"), ConsistentRead=True
        ).get("Item")
        if found is None:
            return None
        sub = _subscription(found)
        return sub if self._remove(sub) else None

    def _remove(self, sub: Subscription) -> bool:
        """Delete one subscription's items and lower its connection's count, atomically.

        False when the subscription was already gone (removed by someone else meanwhile):
        the count is then left alone, so two removals never lower it twice.
        """
        own_key = _key(_conn_pk(sub.connection_id), f"SUB#{sub.subscription_id}")
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.name,
                            "Key": own_key,
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Delete": {"TableName": self.name, "Key": _key(*_index_key(sub))}},
                    {"Delete": {"TableName": self.name, "Key": _key(*_guard_key(sub))}},
                    {
                        "Update": {
                            "TableName": self.name,
                            "Key": _key(_conn_pk(sub.connection_id), "META"),
                            "UpdateExpression": "ADD subCount :minus",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":minus": {"N": "-1"}},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                self._delete_keys(_keys_of(sub)[1:])  # index and guard, whoever wrote them
                return False
            if len(reasons) > 3 and reasons[3] == "ConditionalCheckFailed":
                self._delete_keys(_keys_of(sub))  # the connection is gone: no count to keep
                return True
            raise
        return True

    def connection_subscriptions(self, cid: str) -> list[Subscription]:
        items = self._query_all(_conn_pk(cid), "SUB#", consistent=True)
        return [_subscription(i) for i in items]

    def room_subscriptions(
        self, room_id: str, page_size: int = 1000
    ) -> Iterator[list[Subscription]]:
        """The room's subscriptions, one strongly consistent Query per yielded page.

        Items sort by ``CONN#{cid}#{subId}``, so the subscriptions of one connection are
        adjacent (a connection may straddle two pages). A page may be empty when the
        previous one ended exactly at the last item: callers counting Queries count pages.
        Strong consistency lets a message sent right after a SUBSCRIBE reach it.
        """
        start: Item | None = None
        while True:
            query = self._query_input(f"ROOM#{room_id}", None, page_size, start, True)
            page = self.reader.query(query) if self._lean_reads else self.client.query(**query)
            yield [_subscription(i) for i in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if start is None:
                return

    def count_room_subscriptions(self, room_id: str, stop_after: int) -> int:
        """How many subscriptions the room has, counting no further than ``stop_after``."""
        counted = 0
        start: Item | None = None
        while counted < stop_after:
            query = self._query_input(f"ROOM#{room_id}", None, stop_after - counted, start, False)
            query["Select"] = "COUNT"
            page = self.client.query(**query)
            counted += page["Count"]
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        return min(counted, stop_after)

    def user_queue_subscriptions(self, user_id: str, destination: str) -> list[Subscription]:
        """Every subscription of the user's connections to ``destination`` (multi-device)."""
        items = self._query_all(f"USER#{user_id}", "CONN#", consistent=True)
        subs = [_subscription(i) for i in items if "subscriptionId" in i]
        return [s for s in subs if s.destination == destination]

    def drop_user_from_room(self, room_id: str, user_id: str) -> list[Subscription]:
        """The user left or was removed: delete their subscriptions to the room.

        Reads the user's few connections rather than the whole room partition. Every
        connection that can subscribe is indexed under its user before it can
        (:meth:`add_user_connection`), and the session re-checks membership after storing
        a subscription, so a subscription this misses is one that removes itself.
        """
        found = [
            sub
            for cid in self.user_connections(user_id)
            for sub in self.connection_subscriptions(cid)
            if sub.room_id == room_id
        ]
        return self._remove_all(found)

    def drop_room(self, room_id: str) -> list[Subscription]:
        """The room was deleted: delete every subscription to it, page by page."""
        dropped: list[Subscription] = []
        for page in self.room_subscriptions(room_id):
            dropped.extend(self._remove_all(page))
        return dropped

    # ------------------------------------------------------------------ plumbing

    def _remove_all(self, subs: list[Subscription]) -> list[Subscription]:
        """Remove each subscription (one transaction each, a few at a time); those that
        were still there."""
        if len(subs) <= 1:
            return [sub for sub in subs if self._remove(sub)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(subs))) as pool:
            removed = list(pool.map(self._remove, subs))
        return [sub for sub, done in zip(subs, removed, strict=True) if done]

    def _delete_keys(self, keys: Iterable[tuple[str, str]]) -> None:
        unique = list(dict.fromkeys(keys))  # BatchWriteItem refuses duplicate keys
        requests: list[WriteRequestTypeDef] = [{"DeleteRequest": {"Key": _key(*k)}} for k in unique]
        batch_write(self.client, self.name, requests)

    def _query_input(
        self, pk: str, prefix: str | None, limit: int | None, start: Item | None, consistent: bool
    ) -> QueryInputTypeDef:
        values: Item = {":pk": {"S": pk}}
        condition = "pk = :pk"
        if prefix is not None:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": prefix}
        query: QueryInputTypeDef = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": consistent,
        }
        if limit is not None:
            query["Limit"] = limit
        if start is not None:
            query["ExclusiveStartKey"] = start
        return query

    def _query(
        self,
        pk: str,
        prefix: str | None = None,
        *,
        limit: int | None = None,
        start: Item | None = None,
        consistent: bool = False,
    ) -> Any:
        return self.client.query(**self._query_input(pk, prefix, limit, start, consistent))

    def _query_all(
        self, pk: str, prefix: str | None = None, *, consistent: bool = False
    ) -> Iterator[Mapping[str, Any]]:
        start: Item | None = None
        while True:
            page = self._query(pk, prefix, start=start, consistent=consistent)
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if start is None:
                return


def batch_write(client: DynamoDBClient, table: str, requests: list[WriteRequestTypeDef]) -> None:
    """BatchWriteItem in chunks of 25, retrying unprocessed items with jittered backoff."""
    for first in range(0, len(requests), BATCH_WRITE_MAX):
        pending = requests[first : first + BATCH_WRITE_MAX]
        for attempt in range(BATCH_WRITE_ATTEMPTS):
            reply = client.batch_write_item(RequestItems={table: pending})
            pending = list(reply.get("UnprocessedItems", {}).get(table, []))  # type: ignore[arg-type]
            if not pending:
                break
            time.sleep(min(1.0, 0.025 * 2**attempt) * random.uniform(0.5, 1.0))  # noqa: S311
        else:
            raise TableWriteError(f"{len(pending)} items unprocessed in {table}")


def create_table(client: DynamoDBClient, name: str) -> None:
    """Create the table as the stacks declare it (local stack and tests): on-demand, TTL on."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
