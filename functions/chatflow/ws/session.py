"""The STOMP 1.2 session on the ``$default`` route: one WebSocket message in, replies out.

API Gateway gives each inbound WebSocket message to one Lambda invocation; there is no
socket to hold, so the session state lives in the connection table (who, which version,
which subscriptions) and this module is a function of (state, message) -> (replies,
side effects). Replies go back through the @connections API; stored messages and
presence changes go to every subscriber through the publisher.

What a client can get wrong is answered in words: an ERROR frame whose ``message``
header says what to fix, after which the connection is closed as the spec requires.
Request-level failures (not a member, invalid body, rate limited) go to the client's
``/user/queue/errors`` subscription instead when it has one, so a chat client does not
lose its connection over one refused message.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from chatflow.errors import ChatFlowError, Forbidden, InvalidInput, RateLimited, Unauthenticated
from chatflow.stomp import Frame, StompProtocolError, connected, error, message, parse, receipt
from chatflow.ws import destinations
from chatflow.ws.deps import WsDeps
from chatflow.ws.identity import Identity, SessionInfo

logger = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ("1.2", "1.1", "1.0")
SERVER_NAME = "ChatFlow/0.1"


class SessionError(Exception):
    """Ends the session with an ERROR frame carrying ``message``."""

    def __init__(self, message: str, receipt_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.receipt_id = receipt_id


@dataclass
class Outcome:
    """Frames for this connection, and whether to close it after sending them."""

    replies: list[Frame] = field(default_factory=list)
    close: bool = False
    version: str = "1.2"


class StompSession:
    def __init__(self, deps: WsDeps) -> None:
        self._d = deps
        self._retry_after: int | None = None

    # -- entry ----------------------------------------------------------------------

    def on_message(
        self, connection_id: str, body: str | bytes, authorizer: dict[str, Any] | None
    ) -> Outcome:
        self._retry_after = None
        info = self._session_info(connection_id, authorizer)
        out = Outcome(version=info.version or "1.2")
        try:
            parsed = parse(body, escape=info.version != "1.0", limits=self._d.limits)
        except StompProtocolError as exc:
            return self._fatal(out, f"malformed frame: {exc.message}")
        try:
            identity = info.identity
            if identity is not None:
                self._check_token(identity, connection_id, parsed.frames)
            elif parsed.frames and parsed.frames[0].command not in ("CONNECT", "STOMP"):
                raise SessionError("not connected: send CONNECT first")
            for frame in parsed.frames:
                info = self._dispatch(connection_id, info, frame, out)
                if out.close:
                    break
        except SessionError as exc:
            return self._fatal(out, exc.message, exc.receipt_id)
        return out

    # -- identity and per-message checks ---------------------------------------------------

    def _session_info(self, connection_id: str, authorizer: dict[str, Any] | None) -> SessionInfo:
        cached = self._d.sessions.get(connection_id)
        if cached is not None and cached.version:
            return cached
        from_context = Identity.from_authorizer(authorizer)
        if cached is not None and from_context is not None:
            return cached
        record = self._d.table.get_connection(connection_id)
        if record is None or record.state != "connected":
            info = SessionInfo(identity=from_context, version="")
        else:
            identity = from_context or Identity(
                user_id=uuid.UUID(record.user_id),
                username=record.username,
                jti=record.jti,
                issued_at=record.token_issued_at,
                expires_at=record.token_expires_at,
                display_name=record.display_name,
                credential_version=record.credential_version or 0,
            )
            info = SessionInfo(identity=identity, version=record.stomp_version or "1.2")
            self._d.sessions.put(connection_id, info)
        return info

    def _check_token(self, identity: Identity, connection_id: str, frames: list[Frame]) -> None:
        if identity.expires_at <= int(self._d.clock()):
            raise SessionError("the token has expired: log in again and reconnect")
        sends = sum(1 for f in frames if f.command == "SEND")
        result = self._d.guard.check(identity, connection_id, sends)
        if result.revoked:
            raise SessionError("the token has been revoked: log in again and reconnect")
        self._retry_after = result.retry_after

    # -- commands --------------------------------------------------------------------

    def _dispatch(self, cid: str, info: SessionInfo, frame: Frame, out: Outcome) -> SessionInfo:
        command = frame.command
        if command in ("CONNECT", "STOMP"):
            return self._connect(cid, info, frame, out)
        identity = info.identity
        if identity is None or not info.version:
            raise SessionError("not connected: send CONNECT first", frame.header("receipt"))
        if command == "SEND":
            self._send(cid, identity, frame, out)
        elif command == "SUBSCRIBE":
            self._subscribe(cid, identity, frame, out)
        elif command == "UNSUBSCRIBE":
            self._unsubscribe(cid, identity, frame, out)
        elif command in ("ACK", "NACK"):
            self._receipt(frame, out)
        elif command == "DISCONNECT":
            self._receipt(frame, out)
            out.close = True
        elif command in ("BEGIN", "COMMIT", "ABORT"):
            raise SessionError("transactions are not supported", frame.header("receipt"))
        else:
            raise SessionError(f"'{command}' is a server frame", frame.header("receipt"))
        return info

    def _connect(self, cid: str, info: SessionInfo, frame: Frame, out: Outcome) -> SessionInfo:
        if info.version:
            raise SessionError("already connected")
        version = negotiate_version(frame.header("accept-version"))
        identity = info.identity or self._authenticate_frame(frame)
        self._d.table.mark_connected(
            cid,
            str(identity.user_id),
            identity.username,
            identity.expires_at,
            identity.issued_at,
            identity.jti,
            version,
            identity.display_name,
            credential_version=identity.credential_version,
        )
        self._d.presence.touch(cid, identity.user_id)
        client_beat = _client_heartbeat(frame.header("heart-beat"))
        wanted = self._d.settings.heartbeat_ms if client_beat > 0 else 0
        out.version = version
        out.replies.append(
            connected(
                version,
                heart_beat=(0, wanted),
                session=cid,
                server=SERVER_NAME,
                headers=[("user-name", identity.username)],
            )
        )
        new_info = SessionInfo(identity=identity, version=version)
        self._d.sessions.put(cid, new_info)
        return new_info

    def _authenticate_frame(self, frame: Frame) -> Identity:
        token = None
        auth = frame.header("Authorization") or frame.header("authorization")
        if auth and auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
        token = token or frame.header("passcode")
        if not token:
            raise SessionError(
                "authentication required: open the socket with ?ticket=<ticket> or send"
                " 'Authorization: Bearer <token>' in CONNECT"
            )
        try:
            claims = self._d.accounts.authenticate(token)
        except Unauthenticated as exc:
            raise SessionError(f"authentication failed: {exc.detail}") from None
        return Identity.from_claims(claims)

    def _send(self, cid: str, identity: Identity, frame: Frame, out: Outcome) -> None:
        receipt_id = frame.header("receipt")
        destination = frame.header("destination")
        if not destination:
            raise SessionError("SEND needs a 'destination' header", receipt_id)
        target = destinations.send_target(destination)
        if target is None:
            raise SessionError(
                f"unknown destination '{destination}': send to /app/rooms/<roomId>"
                " or /app/rooms/<roomId>/typing",
                receipt_id,
            )
        try:
            if self._retry_after is not None:
                raise RateLimited(
                    f"too many messages; try again in {self._retry_after} s", self._retry_after
                )
            if target.typing:
                self._typing(cid, identity, target.room_id)
                self._receipt(frame, out)
                return
            text, client_msg_id = _message_body(frame.body)
            result = self._d.messages.post(
                identity.user, target.room_id, text, client_msg_id, rate_checked=True
            )
        except psycopg.OperationalError:
            logger.warning("message not stored: database unavailable")
            raise SessionError(
                "the message was not stored (database unavailable); reconnect and send it"
                " again with the same clientMsgId",
                receipt_id,
            ) from None
        except ChatFlowError as exc:
            self._request_failed(cid, identity, frame, destination, exc, out)
            return
        if receipt_id is not None:
            out.replies.append(
                receipt(
                    receipt_id,
                    [
                        ("x-seq", str(result.message.seq)),
                        ("x-message-id", str(result.message.id)),
                        ("x-duplicate", "false" if result.created else "true"),
                    ],
                )
            )

    def _typing(self, cid: str, identity: Identity, room_id: uuid.UUID) -> None:
        subscribed = any(
            s.room_id == str(room_id) for s in self._d.table.connection_subscriptions(cid)
        )
        if not subscribed:
            raise Forbidden("subscribe to the room before sending typing events")
        self._d.publisher.typing(room_id, identity.user)

    def _subscribe(self, cid: str, identity: Identity, frame: Frame, out: Outcome) -> None:
        receipt_id = frame.header("receipt")
        sub_id = frame.header("id")
        destination = frame.header("destination")
        if not sub_id or not destination:
            raise SessionError("SUBSCRIBE needs 'id' and 'destination' headers", receipt_id)
        room_id = destinations.room_topic(destination)
        if room_id is None and destination not in destinations.USER_QUEUES:
            raise SessionError(
                f"unknown destination '{destination}': subscribe to /topic/rooms/<roomId>,"
                f" {destinations.NOTIFICATIONS} or {destinations.ERRORS}",
                receipt_id,
            )
        since = _since_seq(frame.header("x-since-seq"), receipt_id)
        try:
            if room_id is not None:
                self._d.rooms.require_member(identity.user_id, room_id)
            self._d.table.add_subscription(
                self._d.subscription(cid, sub_id, destination, room_id, identity.user_id)
            )
        except ChatFlowError as exc:
            self._request_failed(cid, identity, frame, destination, exc, out)
            return
        except self._d.duplicate_subscription:
            raise SessionError(
                f"subscription id '{sub_id}' is already in use", receipt_id
            ) from None
        if room_id is not None:
            if self._d.presence.join(room_id, identity.user_id, cid):
                self._d.publisher.presence(room_id, identity.user, online=True)
            if since is not None:
                self._replay(room_id, identity, sub_id, destination, since, out)
        self._receipt(frame, out)

    def _replay(
        self,
        room_id: uuid.UUID,
        identity: Identity,
        sub_id: str,
        destination: str,
        since: int,
        out: Outcome,
    ) -> None:
        limit = self._d.settings.replay_max
        missed = self._d.messages.since(identity.user_id, room_id, since, limit + 1)
        complete = len(missed) <= limit
        for stored in missed[:limit]:
            out.replies.append(
                message(
                    destination,
                    sub_id,
                    f"{room_id}:{stored.seq}",
                    json.dumps(stored.as_json(), separators=(",", ":")),
                    [("content-type", "application/json"), ("x-replay", "true")],
                )
            )
        last = missed[min(len(missed), limit) - 1].seq if missed else since
        marker = {"type": "replay", "roomId": str(room_id), "complete": complete, "lastSeq": last}
        out.replies.append(
            message(
                destination,
                sub_id,
                str(uuid.uuid4()),
                json.dumps(marker, separators=(",", ":")),
                [("content-type", "application/json")],
            )
        )

    def _unsubscribe(self, cid: str, identity: Identity, frame: Frame, out: Outcome) -> None:
        sub_id = frame.header("id")
        if not sub_id:
            raise SessionError("UNSUBSCRIBE needs an 'id' header", frame.header("receipt"))
        removed = self._d.table.remove_subscription(cid, sub_id)
        if removed is not None and removed.room_id is not None:
            still = any(
                s.room_id == removed.room_id for s in self._d.table.connection_subscriptions(cid)
            )
            room = uuid.UUID(removed.room_id)
            if not still and self._d.presence.leave(room, identity.user_id, cid):
                self._d.publisher.presence(room, identity.user, online=False)
        self._receipt(frame, out)

    # -- replies ---------------------------------------------------------------------

    @staticmethod
    def _receipt(frame: Frame, out: Outcome) -> None:
        receipt_id = frame.header("receipt")
        if receipt_id is not None:
            out.replies.append(receipt(receipt_id))

    def _request_failed(
        self,
        cid: str,
        identity: Identity,
        frame: Frame,
        destination: str,
        exc: ChatFlowError,
        out: Outcome,
    ) -> None:
        """A refused request: on /user/queue/errors when subscribed there, else ERROR."""
        receipt_id = frame.header("receipt")
        queue = next(
            (
                s
                for s in self._d.table.connection_subscriptions(cid)
                if s.destination == destinations.ERRORS
            ),
            None,
        )
        if queue is None:
            raise SessionError(exc.detail, receipt_id)
        body: dict[str, Any] = {
            "type": "error",
            "code": exc.code,
            "message": exc.detail,
            "destination": destination,
            "receiptId": receipt_id,
        }
        if isinstance(exc, RateLimited):
            body["retryAfter"] = exc.retry_after
        out.replies.append(
            message(
                destinations.ERRORS,
                queue.subscription_id,
                str(uuid.uuid4()),
                json.dumps(body, separators=(",", ":")),
                [("content-type", "application/json")],
            )
        )

    @staticmethod
    def _fatal(out: Outcome, text: str, receipt_id: str | None = None) -> Outcome:
        out.replies.append(error(text, receipt_id))
        out.close = True
        return out


def negotiate_version(accept_version: str | None) -> str:
    """The highest version both sides speak; no header means a STOMP 1.0 client."""
    if accept_version is None:
        return "1.0"
    offered = {v.strip() for v in accept_version.split(",")}
    for version in SUPPORTED_VERSIONS:
        if version in offered:
            return version
    raise SessionError(f"unsupported STOMP version(s) '{accept_version}'; this server speaks 1.2")


def _client_heartbeat(value: str | None) -> int:
    """The client's ``cx`` (how often it can send heart-beats), 0 when absent or invalid."""
    if not value:
        return 0
    try:
        cx, _cy = (int(part) for part in value.split(",", 1))
    except ValueError:
        raise SessionError("the heart-beat header must be two integers: 'cx,cy'") from None
    if cx < 0 or _cy < 0:
        raise SessionError("the heart-beat header must not be negative")
    return cx


def _since_seq(value: str | None, receipt_id: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise SessionError("x-since-seq must be a non-negative integer", receipt_id)
    return int(value)


def _message_body(body: bytes) -> tuple[str, str | None]:
    """The SEND body: JSON ``{"body": "...", "clientMsgId": "..."}``."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput(
            'the SEND body must be JSON: {"body": "...", "clientMsgId": "..."}'
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("body"), str):
        raise InvalidInput('the SEND body must be a JSON object with a string "body"')
    client_msg_id = data.get("clientMsgId")
    if client_msg_id is not None and not isinstance(client_msg_id, str):
        raise InvalidInput('"clientMsgId" must be a string')
    return data["body"], client_msg_id
