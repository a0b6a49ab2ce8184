"""The local REST API Gateway (proxy integration) and the web page, on one port.

Paths that match a REST route of the template go to its function as payload 1.0 events;
what API Gateway would answer on its own is answered the same way (403 "Missing
Authentication Token" for a path no route matches, 502 "Internal server error" when the
function fails, times out or returns something that is not a proxy response). Every other
GET is the web client: ``web/dist`` when it was built, else a page that says how to build it,
and ``/config.json`` tells the page where the APIs are. What the page server answers carries
the page's security headers (chatflow/security/headers.py), as CloudFront's response
headers policy adds them on AWS; API answers carry the ones the FastAPI app sets.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatflow.security.headers import origin, page_headers
from local.apigw_events import ApiInfo, new_id, rest_event
from local.http11 import HttpRequest, HttpResponse
from local.template import RestRoute
from local.workers import FunctionPool

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ChatFlow (local)</title></head>
<body>
<h1>ChatFlow local stack</h1>
<p>The web client is not built. Build it with <code>cd web &amp;&amp; npm ci &amp;&amp;
npm run build</code> and reload this page.</p>
<p>The REST API answers under <a href="/api/health">/api</a>; the WebSocket API is on
<code>{ws}</code>.</p>
</body></html>
"""


@dataclass(frozen=True)
class _CompiledRoute:
    route: RestRoute
    pattern: re.Pattern[str]

    def matches(self, method: str) -> bool:
        return "ANY" in self.route.methods or method in self.route.methods


def compile_route(route: RestRoute) -> _CompiledRoute:
    """``/api/{proxy+}`` -> a regex with named groups; ``{name+}`` is greedy."""
    pattern = ""
    for part in route.path.strip("/").split("/"):
        if not part:
            continue
        greedy = re.fullmatch(r"\{(\w+)\+\}", part)
        single = re.fullmatch(r"\{(\w+)\}", part)
        if greedy:
            pattern += f"/(?P<{greedy.group(1)}>.+)"
        elif single:
            pattern += f"/(?P<{single.group(1)}>[^/]+)"
        else:
            pattern += "/" + re.escape(part)
    return _CompiledRoute(route, re.compile(f"^{pattern or '/'}$"))


class RestGateway:
    def __init__(
        self,
        routes: tuple[RestRoute, ...],
        pools: Mapping[str, FunctionPool],
        api: ApiInfo,
        web_root: Path,
        config: dict[str, str],
    ) -> None:
        # Literal paths before templated ones, as API Gateway prefers the most specific.
        ordered = sorted(routes, key=lambda r: (r.is_greedy, "{" in r.path, -len(r.path)))
        self.routes = [compile_route(route) for route in ordered]
        self.pools = pools
        self.api = api
        self.web_root = web_root
        self.config = config
        endpoints = [origin(config[key]) for key in ("http", "ws") if key in config]
        self.page_headers = list(page_headers(endpoints).items())

    async def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        for compiled in self.routes:
            match = compiled.pattern.match(path)
            if match and compiled.matches(request.method):
                return await self._invoke(request, compiled.route, match.groupdict())
        if request.method in ("GET", "HEAD"):
            response = self._web(path)
            response.headers += self.page_headers
            return response
        return HttpResponse.json(403, {"message": "Missing Authentication Token"})

    async def _invoke(
        self, request: HttpRequest, route: RestRoute, parameters: dict[str, str]
    ) -> HttpResponse:
        request_id = new_id()
        event = rest_event(request, self.api, route.path, parameters, request_id)
        result = await self.pools[route.function].invoke(event, request_id)
        headers = [("x-amzn-RequestId", result.request_id)]
        if not result.ok:
            return HttpResponse.json(502, {"message": "Internal server error"}, **dict(headers))
        response = _proxy_response(result.payload)
        if response is None:
            return HttpResponse.json(502, {"message": "Internal server error"}, **dict(headers))
        response.headers += headers
        return response

    def _web(self, path: str) -> HttpResponse:
        if path == "/config.json":
            return HttpResponse.json(200, self.config, Cache_Control="no-store")
        dist = self.web_root / "dist"
        if not dist.is_dir():
            if path in ("/", "/index.html"):
                page = PLACEHOLDER.replace("{ws}", self.config["ws"]).encode()
                return HttpResponse(200, page, [("Content-Type", "text/html; charset=utf-8")])
            return HttpResponse.json(404, {"message": "Not Found"})
        try:
            target = _static_file(dist, path)
        except (OSError, ValueError):  # a name no file can have (NUL, over 255 bytes)
            return HttpResponse.json(404, {"message": "Not Found"})
        if target is None:
            return HttpResponse.json(404, {"message": "Not Found"})
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return HttpResponse(200, target.read_bytes(), [("Content-Type", kind)])


def _static_file(dist: Path, path: str) -> Path | None:
    """The file of ``dist`` that answers ``path``, or None for 404 (never outside ``dist``)."""
    target = (dist / path.lstrip("/")).resolve()
    if not target.is_relative_to(dist.resolve()):
        return None
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        if "." in Path(path).name:
            return None
        target = dist / "index.html"  # a client-side route of the single-page app
    return target


def _proxy_response(payload: Any) -> HttpResponse | None:
    """A Lambda proxy response as HTTP, or None when it is malformed (API Gateway: 502)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("statusCode"), int):
        return None
    headers: dict[str, list[str]] = {}
    for key, value in (payload.get("headers") or {}).items():
        headers[key] = [str(value)]
    for key, values in (payload.get("multiValueHeaders") or {}).items():
        headers[key] = [str(v) for v in values]
    body = payload.get("body") or ""
    if not isinstance(body, str):
        body = json.dumps(body)
    data = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
    flat = [(key, value) for key, values in headers.items() for value in values]
    flat = [(k, v) for k, v in flat if k.lower() not in ("content-length", "connection")]
    return HttpResponse(int(payload["statusCode"]), data, flat)
