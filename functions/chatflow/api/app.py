"""The FastAPI application: routes under ``/api``, problem documents, request logging."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from chatflow.api import openapi_doc, problems, routes_auth, routes_messages, routes_rooms
from chatflow.api.schemas import HealthOut, ProblemOut
from chatflow.cache.client import CACHE_ERRORS
from chatflow.container import Container
from chatflow.logs import request_id_var
from chatflow.process import get_container
from chatflow.security.headers import API_HEADERS, docs_csp

logger = logging.getLogger("chatflow.api")

_ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ProblemOut, "content": {problems.MEDIA_TYPE: {}}}
    for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}


def _add_docs_page(app: FastAPI) -> None:
    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI: the one HTML answer of the API, so the one with its own policy."""
        page = get_swagger_ui_html(openapi_url="/api/openapi.json", title=f"{app.title} - docs")
        page.headers["Content-Security-Policy"] = docs_csp(bytes(page.body).decode())
        return page


def create_app(
    container_factory: Callable[[], Container] = get_container,
    cors_allow_origins: str | None = None,
) -> FastAPI:
    app = FastAPI(
        title="ChatFlow",
        version="0.1.0",
        description="Rooms, members, history and presence of ChatFlow. Real-time delivery is"
        " STOMP 1.2 over the WebSocket API (see docs/protocol.md).",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served below, with a policy that lets it load Swagger UI
        redoc_url=None,
        responses=_ERROR_RESPONSES,
    )
    app.state.container_factory = container_factory
    problems.install(app)
    origins = [o.strip() for o in (cors_allow_origins or "").split(",") if o.strip()]
    if origins:
        # The web client on CloudFront is another origin than the REST API; tokens travel in
        # the Authorization header, never in cookies, so credentials stay off.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After", "X-Request-Id"],
            max_age=600,
        )
    for router in (routes_auth.router, routes_rooms.router, routes_messages.router):
        app.include_router(router, prefix="/api")

    @app.get(
        "/api/health",
        response_model=HealthOut,
        tags=["health"],
        responses={503: {"model": HealthOut}},
    )
    def health() -> JSONResponse:
        """PostgreSQL and Redis reachability; 503 when either is down."""
        services = container_factory()
        pg = rd = "ok"
        try:
            with services.db.connection() as conn:
                conn.execute("SELECT 1")
        except Exception:
            pg = "down"
        try:
            services.cache.ping()
        except CACHE_ERRORS:
            rd = "down"
        ok = pg == "ok" and rd == "ok"
        body = HealthOut(status="ok" if ok else "degraded", postgres=pg, redis=rd)  # type: ignore[arg-type]
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    _add_docs_page(app)
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """The generated document with problem media types and links (openapi_doc)."""
        if app.openapi_schema is None:
            app.openapi_schema = openapi_doc.refine(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    max_bytes = None

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        nonlocal max_bytes
        aws_context = request.scope.get("aws.context")
        request_id = getattr(aws_context, "aws_request_id", None) or str(uuid.uuid4())
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            if max_bytes is None:
                max_bytes = (await run_in_threadpool(container_factory)).settings.max_request_bytes
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > max_bytes):
                response: Response = problems.problem(
                    413, f"the request body is larger than {max_bytes} bytes", "too-large"
                )
            else:
                response = await call_next(request)
            response.headers["X-Request-Id"] = request_id
            for name, value in API_HEADERS.items():  # the docs page brings its own policy
                response.headers.setdefault(name, value)
            logger.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            return response
        finally:
            request_id_var.reset(token)

    return app
