"""RFC 9457 problem documents: the one error format of the whole API.

``STATUS_BY_ERROR`` is the single table that decides which HTTP status a domain error
becomes. Validation errors name each invalid field in ``errors``. Anything unexpected
becomes a bare 500 whose detail reveals nothing; database and cache outages become 503.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatflow.errors import (
    ChatFlowError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
)

logger = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://chatflow.dev/problems/"
MEDIA_TYPE = "application/problem+json"

STATUS_BY_ERROR: dict[type[ChatFlowError], tuple[int, str]] = {
    InvalidInput: (422, "Invalid input"),
    Unauthenticated: (401, "Not authenticated"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    RateLimited: (429, "Too many requests"),
    Unavailable: (503, "Service unavailable"),
}

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    code: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (code or str(status)),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path") else []
    return ".".join(parts) or (str(loc[0]) if loc else "body")


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ChatFlowError)
    status, _ = next(
        (v for k, v in STATUS_BY_ERROR.items() if isinstance(exc, k)), (400, "Bad request")
    )
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if isinstance(exc, Unavailable):
        headers = {"Retry-After": "1"}
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    errors = None
    if isinstance(exc, InvalidInput) and exc.errors:
        errors = [{"field": f, "message": m} for f, m in exc.errors.items()]
    return problem(status, exc.detail, exc.code, errors, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        return problem(400, "the request body is not valid JSON", "malformed-json")
    errors = []
    for err in raw:
        loc = tuple(err.get("loc", ()))
        field = _field_name(loc)
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "missing" and loc == ("body",):
            message = "a JSON body is required"
        errors.append({"field": field, "message": message, "in": str(loc[0]) if loc else "body"})
    names = ", ".join(sorted({e["field"] for e in errors}))
    return problem(422, f"invalid fields: {names}", "invalid-input", errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404:
        detail = "no such resource"
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, detail, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error")
    return problem(500, "something went wrong on our side", "internal")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ChatFlowError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
