"""Wiring of the WebSocket side: one cached Runtime per Lambda container.

Builds the adapters once (DynamoDB table, @connections client, Redis, PostgreSQL through
the shared domain container) and offers the handlers the few operations they need. It
never imports FastAPI: the REST app is not on the frame path.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache

from chatflow.cache.client import CACHE_ERRORS, open_redis
from chatflow.cache.presence_writer import PresenceWriter, connection_key
from chatflow.cache.ratelimit import BucketPolicy
from chatflow.cache.revocations import RevocationStore, TokenRef
from chatflow.container import Container, build_container
from chatflow.settings import Settings, get_settings
from chatflow.stomp import DEFAULT_LIMITS, error, serialize
from chatflow.ws.connections import STATE_OPEN, ConnectionRecord, ConnectionTable
from chatflow.ws.connections import Subscription as TableSubscription
from chatflow.ws.deps import WsDeps
from chatflow.ws.fanout import Fanout
from chatflow.ws.fanout_jobs import FanoutJob, SqsFanoutQueue
from chatflow.ws.gateway import ConnectionsApi
from chatflow.ws.guard import FrameGuard
from chatflow.ws.identity import Identity, SessionCache
from chatflow.ws.lean_gateway import build_connections_api
from chatflow.ws.publisher import (
    EXPIRED_TOKEN_MESSAGE,
    REVOKED_TOKEN_MESSAGE,
    WebSocketPublisher,
)
from chatflow.ws.session import Outcome, StompSession

logger = logging.getLogger(__name__)

MESSAGE_LIMIT = 128 * 1024


def _subscription(
    cid: str, sub_id: str, destination: str, room_id: uuid.UUID | None, user_id: uuid.UUID
) -> TableSubscription:
    return TableSubscription(
        connection_id=cid,
        subscription_id=sub_id,
        destination=destination,
        room_id=str(room_id) if room_id is not None else None,
        user_id=str(user_id),
    )


@dataclass
class Runtime:
    settings: Settings
    container: Container
    table: ConnectionTable
    api: ConnectionsApi
    fanout: Fanout
    presence: PresenceWriter
    publisher: WebSocketPublisher
    session: StompSession
    sessions: SessionCache

    # -- $connect / $disconnect -----------------------------------------------------------

    def register_connection(
        self,
        cid: str,
        identity: Identity | None,
        connected_at_ms: int,
        source_ip: str,
        offered_version: str | None = None,
    ) -> bool:
        """Record a new socket; False when it must be refused (its token was revoked).

        With a known identity (ticket or bearer on the upgrade) the connection is indexed
        under its user at once, before any frame can subscribe on it, so that a removal
        from a room or a revocation sweep finds it; then the revocation is checked again:
        a revocation that lands after this check finds the indexed connection and closes
        it, one that landed before is seen here. A user over the connection cap gets a
        connection that answers its first frame with ERROR (a handshake refusal would
        reach a browser without a reason).
        """
        record = ConnectionRecord(
            connection_id=cid,
            connected_at=connected_at_ms,
            user_id=str(identity.user_id) if identity else None,
            username=identity.username if identity else None,
            token_expires_at=identity.expires_at if identity else None,
            token_issued_at=identity.issued_at if identity else None,
            jti=identity.jti if identity else None,
            source_ip=source_ip or None,
            display_name=identity.display_name if identity else None,
            credential_version=identity.credential_version if identity else None,
            offered_version=offered_version,
            user_indexed=identity is not None,
            state=STATE_OPEN,
        )
        self.table.put_connection(record)
        if identity is None:
            return True
        user_id = str(identity.user_id)
        limit = self.settings.max_connections_per_user
        if not self.table.index_user_connection(cid, user_id, limit, record.expires_at):
            self.table.refuse_connection(cid)
            return True
        if self.container.accounts.session_revoked(
            identity.jti, user_id, identity.issued_at, identity.credential_version
        ):
            self.table.delete_connection(cid)
            return False
        return True

    def forget_connection(self, cid: str) -> None:
        """Delete the connection's items; tell its rooms when its user went offline."""
        record = self.table.get_connection(cid)
        removed = self.table.delete_connection(cid)
        self.sessions.drop(cid)
        if record is None or record.user_id is None:
            return
        user_id = uuid.UUID(record.user_id)
        rooms = sorted({uuid.UUID(s.room_id) for s in removed if s.room_id is not None})
        offline = self.presence.leave_all(cid, user_id, rooms)
        user = Identity(user_id, record.username or "", "", 0, 0).user
        for room_id in offline:
            self.publisher.presence(room_id, user, online=False)

    # -- $default ------------------------------------------------------------------

    def deliver(self, cid: str, outcome: Outcome) -> None:
        """Post the replies (combined, up to 128 KB a post), then close when asked."""
        if outcome.replies:
            escape = outcome.version != "1.0"
            chunk = b""
            for frame in outcome.replies:
                data = serialize(frame, escape=escape)
                if chunk and len(chunk) + len(data) > MESSAGE_LIMIT:
                    self.api.post(cid, chunk)
                    chunk = b""
                chunk += data
            if chunk:
                self.api.post(cid, chunk)
        if outcome.close:
            self.api.delete(cid)

    def reply_internal_error(self, cid: str) -> None:
        try:
            self.api.post(cid, serialize(error("internal error; reconnect and try again")))
            self.api.delete(cid)
        except Exception:
            logger.exception("could not report the internal error to the client")

    # -- scheduled and queued work ------------------------------------------------------

    def sweep(self) -> dict[str, int]:
        """Expire silent connections' presence; drop connection records that are gone;
        close connections whose token was revoked or has expired."""
        report = self.presence.sweep()
        for room_id, user_id in report.offline:
            user = Identity(user_id, "", "", 0, 0).user
            self.publisher.presence(room_id, user, online=False)
        for room_id, user_id in report.online:
            user = Identity(user_id, "", "", 0, 0).user
            self.publisher.presence(room_id, user, online=True)
        records = list(self.table.iter_connections())
        gone = self._drop_dead_connections(records)
        closed = self._close_revoked_connections(
            [r for r in records if r.connection_id not in gone]
        )
        return {
            "offline": len(report.offline),
            "online": len(report.online),
            "connectionsDropped": len(gone),
            "connectionsRevoked": closed,
        }

    def _drop_dead_connections(self, records: list[ConnectionRecord]) -> set[str]:
        """Connections silent for a whole presence TTL and unknown to @connections."""
        now_ms = int(time.time() * 1000)
        ttl_ms = self.settings.presence_ttl_seconds * 1000
        dropped: set[str] = set()
        cache = self.container.cache
        for record in records:
            if now_ms - record.connected_at < ttl_ms:
                continue
            try:
                alive = bool(cache.exists(connection_key(record.connection_id)))
            except CACHE_ERRORS:
                return dropped  # without presence we cannot tell; try next minute
            if alive or self.api.exists(record.connection_id):
                continue
            self.forget_connection(record.connection_id)
            dropped.add(record.connection_id)
        return dropped

    def _close_revoked_connections(self, records: list[ConnectionRecord]) -> int:
        """The backstop of ``WebSocketPublisher.tokens_revoked``: connections whose token
        has expired, or was revoked by a logout or a password change that could not close
        them at once (or that opened as it ran). One pipelined cache round trip for all."""
        now = int(time.time())
        expired = [
            r for r in records if r.token_expires_at is not None and r.token_expires_at <= now
        ]
        live = [r for r in records if r.jti and r.user_id and r not in expired]
        # A META item without a credential version (written before versions were recorded,
        # or by $connect before CONNECT) is judged by its jti only: a socket of the new
        # password must not be closed for a version it does not show.
        tokens = [
            TokenRef(r.jti or "", r.user_id or "", r.token_issued_at or 0, r.credential_version)
            for r in live
        ]
        verdicts = RevocationStore(self.container.cache).revoked_among(tokens)
        doomed = [(r, EXPIRED_TOKEN_MESSAGE) for r in expired]
        if verdicts is not None:  # None: the cache is down, try again next minute
            doomed += [
                (r, REVOKED_TOKEN_MESSAGE) for r, bad in zip(live, verdicts, strict=True) if bad
            ]
        closed = 0
        for record, reason in doomed:
            try:
                self.publisher.close_connection(record, reason)
            except Exception:
                logger.warning("could not close %s", record.connection_id, exc_info=True)
                continue
            self.sessions.drop(record.connection_id)
            closed += 1
        return closed

    def run_fanout_job(self, body: str) -> None:
        stats = self.fanout.run_job(FanoutJob.from_json(body))
        if stats.failed:
            raise RuntimeError(f"{stats.failed} posts failed; the job will be retried")


def build_runtime(settings: Settings, api: ConnectionsApi | None = None) -> Runtime:
    if not settings.connections_table:
        raise RuntimeError("CONNECTIONS_TABLE must be set for the WebSocket functions")
    if not settings.ws_management_endpoint and api is None:
        raise RuntimeError("WS_MANAGEMENT_ENDPOINT must be set for the WebSocket functions")
    endpoint = settings.aws_endpoint_url or None
    table = ConnectionTable(
        settings.connections_table,
        endpoint_url=endpoint,
        region=settings.aws_region,
        subscription_limit=settings.max_subscriptions_per_connection,
    )
    gateway = api or build_connections_api(
        settings.ws_connections_client, settings.ws_management_endpoint, settings.aws_region
    )
    queue = (
        SqsFanoutQueue(settings.fanout_queue_url, endpoint_url=endpoint, region=settings.aws_region)
        if settings.fanout_queue_url
        else None
    )
    # 64 posting threads measured best for clients without post_many (more threads only
    # add GIL contention); the lean client's post_many keeps fanout_connections posts in
    # flight from one event loop (docs/benchmarks.md, "Fan-out").
    fanout = Fanout(
        table,
        gateway,
        max_workers=64,
        inline_max=settings.fanout_inline_max,
        queue=queue,
        connections=settings.fanout_connections,
    )
    cache = open_redis(settings.redis_url, settings.redis_cluster)
    presence = PresenceWriter(cache, ttl_ms=settings.presence_ttl_seconds * 1000)
    publisher = WebSocketPublisher(fanout, table, presence, gateway)
    container = build_container(settings, publisher=publisher, cache=cache)
    sessions = SessionCache()
    send_policy = BucketPolicy("send", settings.rate_send_burst, settings.rate_send_per_second)

    deps = WsDeps(
        settings=settings,
        table=table,
        presence=presence,
        publisher=publisher,
        guard=FrameGuard(cache, presence.queue_touch, send_policy),
        accounts=container.accounts,
        rooms=container.rooms,
        messages=container.messages,
        sessions=sessions,
        subscription=_subscription,
        limits=DEFAULT_LIMITS,
        clock=time.time,
    )
    return Runtime(
        settings=settings,
        container=container,
        table=table,
        api=gateway,
        fanout=fanout,
        presence=presence,
        publisher=publisher,
        session=StompSession(deps),
        sessions=sessions,
    )


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    return build_runtime(get_settings())
