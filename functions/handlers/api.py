"""REST API handler: the FastAPI app behind API Gateway's REST proxy, through Mangum.

Built at import (init phase) so a warm container reuses the app, its PostgreSQL
connection and its Redis client. ``lifespan="off"``: there is no startup work that
Lambda's init phase does not already do.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from chatflow.api.app import create_app
from chatflow.logs import configure_logging
from chatflow.settings import get_settings

configure_logging(get_settings().log_level)
app = create_app()
_mangum = Mangum(app, lifespan="off", api_gateway_base_path="/")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = _mangum(event, context)
    return result
