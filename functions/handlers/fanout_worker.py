"""SQS consumer for large rooms: each record is a fan-out job, posted by the same code.

Failed records are reported individually (``batchItemFailures``) so SQS retries only
those; a job whose targets were all delivered or gone is done.
"""

from __future__ import annotations

import logging
from typing import Any

from chatflow.logs import configure_logging, request_id_var
from chatflow.settings import get_settings
from chatflow.ws.runtime import get_runtime

configure_logging(get_settings().log_level)
logger = logging.getLogger("chatflow.ws.fanout_worker")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id_var.set(getattr(context, "aws_request_id", "-"))
    runtime = get_runtime()
    failures = []
    for record in event.get("Records") or []:
        try:
            runtime.run_fanout_job(str(record["body"]))
        except Exception:
            logger.exception("fan-out job failed", extra={"messageId": record.get("messageId")})
            failures.append({"itemIdentifier": record.get("messageId")})
    return {"batchItemFailures": failures}
