"""Migration handler: applies the SQL migrations; run by the deploy before new code serves.

Also usable as a CloudFormation custom resource (a ``RequestType`` in the event): it
migrates on Create/Update and answers through the provider framework's return value.
"""

from __future__ import annotations

import logging
from typing import Any

from chatflow.db.migrate import apply_migrations
from chatflow.logs import configure_logging
from chatflow.settings import get_settings

configure_logging(get_settings().log_level)
logger = logging.getLogger("chatflow.migrate")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("RequestType") == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", "chatflow-schema")}
    applied = apply_migrations(get_settings().database_url)
    logger.info("migrations done", extra={"applied": applied})
    return {
        "PhysicalResourceId": "chatflow-schema",
        "Data": {"applied": len(applied)},
        "applied": applied,
    }
