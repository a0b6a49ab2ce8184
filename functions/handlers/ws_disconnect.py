"""``$disconnect``: forget the connection and tell rooms when its user went offline.

API Gateway delivers this at most once and sometimes never; the connection items'
TTL and the presence sweeper clean up what a missing ``$disconnect`` leaves. Running it
twice is harmless: the second run finds nothing to delete.
"""

from __future__ import annotations

import logging
from typing import Any

from chatflow.logs import configure_logging, request_id_var
from chatflow.settings import get_settings
from chatflow.ws.runtime import get_runtime

configure_logging(get_settings().log_level)
logger = logging.getLogger("chatflow.ws.disconnect")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id_var.set(getattr(context, "aws_request_id", "-"))
    request = event.get("requestContext") or {}
    connection_id = str(request.get("connectionId", ""))
    try:
        get_runtime().forget_connection(connection_id)
    except Exception:
        logger.exception("disconnect cleanup failed; TTL and the sweeper will finish it")
    return {"statusCode": 200}
