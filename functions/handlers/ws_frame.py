"""``$default``: every inbound WebSocket message (one or more STOMP frames, or heart-beats).

Parses the message, runs the STOMP session, posts the replies to this connection in one
@connections call, and closes the connection when the session says so. No exception
escapes: an unexpected error is logged and answered with an ERROR frame.
"""

from __future__ import annotations

import logging
from typing import Any

from chatflow.logs import configure_logging, request_id_var
from chatflow.settings import get_settings
from chatflow.ws.runtime import get_runtime

configure_logging(get_settings().log_level)
logger = logging.getLogger("chatflow.ws.frame")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id_var.set(getattr(context, "aws_request_id", "-"))
    request = event.get("requestContext") or {}
    connection_id = str(request.get("connectionId", ""))
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        import base64

        body = base64.b64decode(body)
    runtime = get_runtime()
    try:
        outcome = runtime.session.on_message(connection_id, body, request.get("authorizer"))
        runtime.deliver(connection_id, outcome)
    except Exception:
        logger.exception("frame handling failed")
        runtime.reply_internal_error(connection_id)
    return {"statusCode": 200}
