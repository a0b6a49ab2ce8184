"""Security headers on every REST answer, and a policy for the docs page that fits it."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.helpers.api import ApiClient

pytestmark = pytest.mark.integration

JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"


def _directives(policy: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/health", 200),
        ("GET", "/api/openapi.json", 200),
        ("GET", "/api/rooms", 401),
        ("GET", "/api/rooms/not-a-uuid", 401),
        ("POST", "/api/auth/login", 422),
        ("GET", "/api/nothing-here", 404),
    ],
)
def test_every_api_answer_carries_the_json_policy(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status, response.text
    assert response.headers["Content-Security-Policy"] == JSON_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_signed_in_answers_and_refusals_carry_it_too(api: ApiClient) -> None:
    user = api.user()
    for response in (
        api.call("GET", "/api/rooms", user),
        api.call("POST", "/api/rooms", user, {"name": "\u200d"}),
        api.http.post(
            "/api/rooms",
            content=b"x" * 70_000,
            headers={**user.headers, "Content-Type": "application/json"},
        ),
    ):
        assert response.headers["Content-Security-Policy"] == JSON_POLICY, response.status_code


def test_the_docs_page_may_load_exactly_what_it_uses(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = _directives(page.headers["Content-Security-Policy"])
    html = page.text

    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert inline, "the page runs its set-up inline"
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    for url in re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" in policy["script-src"], url
    for url in re.findall(r"<link[^>]*\bhref=\"([^\"]+)\"", html):
        parts = urlsplit(url)
        source = f"{parts.scheme}://{parts.netloc}"
        assert source in policy["style-src"] and source in policy["img-src"], url
    assert policy["connect-src"] == ["'self'"]  # it reads /api/openapi.json and tries calls
    assert page.headers["X-Content-Type-Options"] == "nosniff"
