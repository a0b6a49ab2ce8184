"""Every minute: expire silent connections' presence and drop connections that are gone."""

from __future__ import annotations

import logging
from typing import Any

from chatflow.logs import configure_logging, request_id_var
from chatflow.settings import get_settings
from chatflow.ws.runtime import get_runtime

configure_logging(get_settings().log_level)
logger = logging.getLogger("chatflow.ws.sweeper")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id_var.set(getattr(context, "aws_request_id", "-"))
    stats = get_runtime().sweep()
    logger.info("sweep done", extra=stats)
    return stats
