"""The container of this process: the one wiring decision that spans REST and WebSocket.

With a WebSocket API configured, the REST function's stored messages and membership
changes must reach live subscribers, so it uses the WebSocket runtime's container (whose
publisher fans out); a REST-only deployment builds a plain one that publishes nothing.
Kept apart from ``chatflow.container`` so that the container never imports the runtime
that imports it. Cached per process (``get_container.cache_clear()`` in tests), so a warm
Lambda container reuses its PostgreSQL connection and Redis client.
"""

from __future__ import annotations

from functools import lru_cache

from chatflow.container import Container, build_container
from chatflow.settings import get_settings


@lru_cache(maxsize=1)
def get_container() -> Container:
    """The process's container (see the module docstring)."""
    settings = get_settings()
    if settings.connections_table and settings.ws_management_endpoint:
        from chatflow.ws.runtime import get_runtime  # loaded only when WebSockets are on

        return get_runtime().container
    return build_container(settings)
