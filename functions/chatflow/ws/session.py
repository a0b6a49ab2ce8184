"""The STOMP 1.2 session on the ``$default`` route: one WebSocket message in, replies out.

API Gateway gives each inbound WebSocket message to one Lambda invocation; there is no
socket to hold, so the session state lives in the connection table (who, which version,
which subscriptions) and this module is a function of (state, message) -> (replies,
side effects). Replies go back through the @connections API; stored messages and
presence changes go to every subscriber through the publisher.

What a client can get wrong is answered in words: an ERROR frame whose ``message``
header says what to fix, after which the connection is closed as the spec requires.
Request-level failures (not a member, invalid body, rate limited, a cap reached) go to
the client's ``/user/queue/errors`` subscription instead when it has one, so a chat client
does not lose its connection over one refused message.

API Gateway may run several invocations of one connection at once and in any order, so
nothing here assumes that an earlier frame has been handled: a socket opened with a ticket
or bearer token is answered frame by frame as if CONNECTED had been sent (its identity is
known since ``$connect``); a subscription to a room is written first and membership checked
again after, so a removal that committed before the check sees the subscription and drops
it, and one that commits after the check finds it in the table; a connection that is gone
meanwhile gets nothing, never an exception.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from chatflow.errors import (
    ChatFlowError,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    RateLimited,
    Unauthenticated,
)
from chatflow.stomp import Frame, StompProtocolError, connected, error, message, parse, receipt
from chatflow.ws import destinations
from chatflow.ws.deps import WsDeps
from chatflow.ws.identity import Identity, SessionInfo
from chatflow.ws.table_errors import (
    AlreadySubscribed,
    DuplicateSubscription,
    TooManySubscriptions,
    UnknownConnection,
)

logger = logging.getLogger(__name__)

SUPPORTED_VERSIONS = ("1.2", "1.1", "1.0")
SERVER_NAME = "ChatFlow/0.1"
SUBPROTOCOL_VERSIONS = {"v12.stomp": "1.2", "v11.stomp": "1.1", "v10.stomp": "1.0"}
_ASCII_NUMBER = re.compile(r"[0-9]{1,18}\Z")


NOT_CONNECTED = (
    "not connected: send CONNECT first (a socket that authenticates in CONNECT must wait"
    " for CONNECTED before other frames)"
)


class ConnectionGone(Exception):
    """The connection disappeared while its frame was handled: there is no one to answer."""


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
        out = Outcome(version=info.escaping_version)
        try:
            parsed = parse(body, escape=info.escaping_version != "1.0", limits=self._d.limits)
        except StompProtocolError as exc:
            return self._fatal(out, f"malformed frame: {exc.message}")
        try:
            if info.refused:
                raise SessionError(self._too_many_connections())
            identity = info.identity
            if identity is not None:
                self._check_token(identity, connection_id, parsed.frames)
            elif parsed.frames and parsed.frames[0].command not in ("CONNECT", "STOMP"):
                raise SessionError(NOT_CONNECTED)
            for frame in parsed.frames:
                info = self._dispatch(connection_id, info, frame, out)
                if out.close:
                    break
        except SessionError as exc:
            return self._fatal(out, exc.message, exc.receipt_id)
        except ConnectionGone:
            return Outcome(version=out.version)  # closed meanwhile: nobody to answer
        return out

    def _too_many_connections(self) -> str:
        limit = self._d.settings.max_connections_per_user
        return (
            f"too many connections: a user may have at most {limit} open at once;"
            " close another tab or device and reconnect"
        )

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
            offered = record.offered_version if record is not None else None
            info = SessionInfo(
                identity=from_context,
                version="",
                wire_version=offered or "1.2",
                refused=record is not None and record.state == "refused",
                user_indexed=record is None or record.user_indexed,
            )
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
        if identity is None:  # authenticates in CONNECT, which has not been handled yet
            raise SessionError(NOT_CONNECTED, frame.header("receipt"))
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
        client_beat = _client_heartbeat(frame.header("heart-beat"))
        identity = info.identity
        authenticated_here = identity is None
        try:
            if identity is None:
                identity = self._authenticate_frame(frame)
                self._index_frame_authenticated(cid, identity)
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
                indexed=authenticated_here or info.user_indexed,
            )
        except UnknownConnection:
            raise ConnectionGone(cid) from None
        if authenticated_here and self._d.accounts.session_revoked(
            identity.jti, str(identity.user_id), identity.issued_at, identity.credential_version
        ):
            # A revocation that landed after the token was checked and before the socket
            # was recorded as its: the revoker's sweep may have missed it, so this is the
            # check that sees the revocation (ticket sockets get the same at $connect).
            raise SessionError("the token has been revoked: log in again and reconnect")
        self._d.presence.touch(cid, identity.user_id)
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

    def _index_frame_authenticated(self, cid: str, identity: Identity) -> None:
        """A socket that authenticates in CONNECT is indexed under its user only now;
        it counts against the user's connection cap from here on."""
        allowed = self._d.table.index_user_connection(
            cid, str(identity.user_id), self._d.settings.max_connections_per_user
        )
        if not allowed:
            raise SessionError(self._too_many_connections())

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
        except DatabaseUnavailable:
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
        """Typing goes to the room when the sender may see it: subscribed (the usual
        case, no database read), or a member whose SUBSCRIBE is still being handled
        (frames of one socket may be handled out of order)."""
        subscribed = any(
            s.room_id == str(room_id) for s in self._d.table.connection_subscriptions(cid)
        )
        if not subscribed:
            self._d.rooms.require_member(identity.user_id, room_id)
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
            self._store_subscription(cid, sub_id, destination, room_id, identity)
            if room_id is not None:
                self._join_room(cid, sub_id, room_id, identity)
        except ChatFlowError as exc:
            self._request_failed(cid, identity, frame, destination, exc, out)
            return
        except DuplicateSubscription:
            raise SessionError(
                f"subscription id '{sub_id}' is already in use", receipt_id
            ) from None
        if room_id is not None and since is not None:
            self._replay(room_id, identity, sub_id, destination, since, out)
        self._receipt(frame, out)

    def _store_subscription(
        self,
        cid: str,
        sub_id: str,
        destination: str,
        room_id: uuid.UUID | None,
        identity: Identity,
    ) -> None:
        """Write the subscription, turning the table's refusals into client errors."""
        try:
            self._d.table.add_subscription(
                self._d.subscription(cid, sub_id, destination, room_id, identity.user_id)
            )
        except AlreadySubscribed as exc:
            raise Conflict(
                f"already subscribed to {destination} (subscription id"
                f" '{exc.subscription_id}'): one subscription per destination"
            ) from None
        except TooManySubscriptions as exc:
            raise Conflict(
                f"too many subscriptions: at most {exc.limit} on one connection;"
                " UNSUBSCRIBE from one first"
            ) from None
        except UnknownConnection:
            raise ConnectionGone(cid) from None

    def _join_room(self, cid: str, sub_id: str, room_id: uuid.UUID, identity: Identity) -> None:
        """Presence, then membership once more now that the subscription is stored.

        A removal that committed before this check is refused here and the subscription
        taken back; one that commits after it finds the subscription in the table (the
        connection was indexed under its user before anything could subscribe on it).
        Either way no subscription of a removed member survives.
        """
        if self._d.presence.join(room_id, identity.user_id, cid):
            self._d.publisher.presence(room_id, identity.user, online=True)
        try:
            self._d.rooms.require_member(identity.user_id, room_id)
        except ChatFlowError:
            self._d.table.remove_subscription(cid, sub_id)
            if self._d.presence.leave(room_id, identity.user_id, cid):
                self._d.publisher.presence(room_id, identity.user, online=False)
            raise

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


def ascii_number(value: str) -> int | None:
    """``value`` as a non-negative integer written in ASCII digits only, else None.

    ``int()`` and ``str.isdigit()`` also take other scripts' digits (U+0661, U+1D7D9),
    superscripts (U+00B2, which ``int()`` then refuses), signs, spaces and underscores;
    a protocol number is none of those.
    """
    return int(value) if _ASCII_NUMBER.match(value) else None


def _client_heartbeat(value: str | None) -> int:
    """The client's ``cx`` (how often it can send heart-beats), 0 when absent."""
    if not value:
        return 0
    parts = value.split(",")
    numbers = [ascii_number(part) for part in parts]
    if len(parts) != 2 or None in numbers:
        raise SessionError(
            "the heart-beat header must be two non-negative integers in ASCII digits: 'cx,cy'"
        )
    return numbers[0] or 0


def _since_seq(value: str | None, receipt_id: str | None) -> int | None:
    if value is None:
        return None
    number = ascii_number(value)
    if number is None:
        raise SessionError(
            "x-since-seq must be a non-negative integer in ASCII digits (0-9)", receipt_id
        )
    return number


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
