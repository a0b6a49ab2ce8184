"""REST API handler: the FastAPI app behind API Gateway's REST proxy, through Mangum.

Built at import (init phase) so a warm container reuses the app, its PostgreSQL
connection and its Redis client. ``lifespan="off"``: there is no startup work that
Lambda's init phase does not already do. Problem documents are text: without
``application/problem+json`` among the text types Mangum would base64-encode every
error body, and API Gateway (no binary media types) would hand clients the base64.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from chatflow.api.app import create_app
from chatflow.api.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from chatflow.logs import configure_logging, request_id_var
from chatflow.settings import get_settings

TEXT_MIME_TYPES = ["text/", "application/json", PROBLEM_MEDIA_TYPE]

configure_logging(get_settings().log_level)
app = create_app(cors_allow_origins=get_settings().cors_allow_origins)
_mangum = Mangum(app, lifespan="off", api_gateway_base_path="/", text_mime_types=TEXT_MIME_TYPES)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = request_id_var.set(getattr(context, "aws_request_id", None) or "-")
    try:
        result: dict[str, Any] = _mangum(event, context)
    finally:
        request_id_var.reset(token)
    return result
