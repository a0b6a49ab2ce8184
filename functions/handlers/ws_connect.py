"""``$connect``: record the connection and pick the STOMP subprotocol.

Browsers offer ``v12.stomp, v11.stomp, v10.stomp`` in ``Sec-WebSocket-Protocol`` and
fail the handshake unless the server answers with one of them, so the answer names
the best one offered. Nothing is answered when nothing was offered.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chatflow.logs import configure_logging, request_id_var
from chatflow.settings import get_settings
from chatflow.ws.identity import Identity
from chatflow.ws.runtime import get_runtime
from chatflow.ws.session import SUBPROTOCOL_VERSIONS

configure_logging(get_settings().log_level)
logger = logging.getLogger("chatflow.ws.connect")

PREFERRED_SUBPROTOCOLS = ("v12.stomp", "v11.stomp", "v10.stomp")


def pick_subprotocol(headers: dict[str, Any] | None) -> str | None:
    offered: set[str] = set()
    for key, value in (headers or {}).items():
        if key.lower() == "sec-websocket-protocol":
            offered.update(part.strip() for part in str(value).split(","))
    return next((p for p in PREFERRED_SUBPROTOCOLS if p in offered), None)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id_var.set(getattr(context, "aws_request_id", "-"))
    request = event.get("requestContext") or {}
    connection_id = str(request.get("connectionId", ""))
    identity = Identity.from_authorizer(request.get("authorizer"))
    protocol = pick_subprotocol(event.get("headers"))
    try:
        accepted = get_runtime().register_connection(
            connection_id,
            identity,
            connected_at_ms=int(request.get("connectedAt") or time.time() * 1000),
            source_ip=str((request.get("identity") or {}).get("sourceIp", "")),
            offered_version=SUBPROTOCOL_VERSIONS.get(protocol or ""),
        )
    except Exception:
        logger.exception("could not record the connection")
        return {"statusCode": 500}
    if not accepted:
        logger.info("connection refused: its token was revoked while it opened")
        return {"statusCode": 401}
    response: dict[str, Any] = {"statusCode": 200}
    if protocol is not None:
        response["headers"] = {"Sec-WebSocket-Protocol": protocol}
    return response
