"""CORS: the web client's origin (CloudFront) may call the REST API; no other origin."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chatflow.api.app import create_app
from chatflow.container import Container

WEB = "https://d111111abcdef8.cloudfront.net"


def test_only_the_configured_origin_is_allowed(container: Container) -> None:
    app = create_app(lambda: container, cors_allow_origins=WEB)
    with TestClient(app) as client:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        ok = client.options("/api/rooms", headers={"Origin": WEB, **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == WEB
        assert "access-control-allow-credentials" not in ok.headers
        other = client.options(
            "/api/rooms", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers
        health = client.get("/api/health", headers={"Origin": WEB})
        assert health.headers["access-control-allow-origin"] == WEB


def test_no_cors_headers_without_configuration(client: TestClient) -> None:
    response = client.get("/api/health", headers={"Origin": WEB})
    assert "access-control-allow-origin" not in response.headers
