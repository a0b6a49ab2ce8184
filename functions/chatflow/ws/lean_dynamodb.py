"""A lean DynamoDB ``Query`` for fan-out's hot read: SigV4 and JSON over a kept connection.

Fan-out reads a room's partition in pages of up to 1,000 items before it can post, and
botocore spends about 50 ms of CPU turning such a page into Python (its response parser
walks the model for every attribute of every item), against about 1 ms for ``json.loads``
of the same bytes. This client sends the ``Query`` as DynamoDB's JSON 1.0 protocol does
(``POST /`` with ``X-Amz-Target: DynamoDB_20120810.Query``, SigV4 for service
``dynamodb``) and returns the answer as ``json.loads`` gives it, which for the string and
number attributes of the connection table is the shape botocore's low-level client
returns (``{"S": ...}``, ``{"N": "..."}``; a binary value would stay base64 text).

Only this read goes through it; writes keep botocore and its validation. ``Query`` is
idempotent, so a throttled, 5xx, broken or timed-out exchange is retried with jittered
backoff; the answer's ``x-amz-crc32`` is checked as botocore checks it. Any other error
raises :class:`DynamoQueryError` with DynamoDB's error type and message.
"""

from __future__ import annotations

import json
import os
import random
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from chatflow.ws.lean_gateway import (
    ConnectionPool,
    CredentialSource,
    NotSent,
    SigV4Signer,
    default_credentials,
    read_response,
    request_bytes,
)

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
RESPONSE_MAX = 16 * 1024 * 1024  # a page is at most 1 MB of data; JSON adds the type tags
DEFAULT_ATTEMPTS = 4
RETRYABLE_TYPES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
    }
)


class DynamoQueryError(Exception):
    """DynamoDB refused the request (or kept failing): its HTTP status, error type, text."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(f"DynamoDB answered {status} {error_type}: {message}".rstrip(": "))
        self.status = status
        self.error_type = error_type


class _Retry(Exception):
    """A failure after which the same request may be sent again."""


def resolve_endpoint(endpoint_url: str | None, region: str | None) -> tuple[str, str]:
    """The endpoint and region botocore would use for DynamoDB, without building a client.

    An explicit endpoint wins; then ``AWS_ENDPOINT_URL_DYNAMODB`` and ``AWS_ENDPOINT_URL``
    (the environment variables botocore honours); then the regional endpoint.
    """
    env = os.environ
    name = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    url = endpoint_url or env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL")
    if not url:
        suffix = "amazonaws.com.cn" if name.startswith("cn-") else "amazonaws.com"
        url = f"https://dynamodb.{name}.{suffix}"
    return url, name


class LeanDynamoDB:
    """DynamoDB's ``Query`` over pooled keep-alive HTTP/1.1 connections (thread-safe)."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        *,
        credentials: CredentialSource | None = None,
        pool_size: int = 4,
        connect_timeout: float = 1.0,
        read_timeout: float = 3.0,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.025,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        default_port = 443 if parts.scheme == "https" else 80
        self._host = parts.hostname if parts.port in (None, default_port) else parts.netloc
        self._path = parts.path or "/"
        self._signer = SigV4Signer(region, "dynamodb")
        self._credentials = credentials or default_credentials()
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._clock = clock
        self.pool = ConnectionPool(
            parts.scheme, parts.hostname, parts.port, pool_size, connect_timeout, read_timeout
        )
        self.requests = 0  # every exchange, retries included

    def query(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One ``Query`` (the botocore parameters, as JSON): the decoded answer."""
        return self.call("Query", request)

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """An idempotent read operation, retried while the failure allows it."""
        body = json.dumps(request, separators=(",", ":")).encode()
        attempt = 0
        while True:
            try:
                return self._exchange(operation, body)
            except _Retry as exc:
                attempt += 1
                if attempt >= self._attempts:
                    cause = exc.__cause__ or exc
                    if isinstance(cause, DynamoQueryError):
                        raise cause from None
                    raise DynamoQueryError(0, type(cause).__name__, str(cause)) from cause
                delay = min(1.0, self._backoff * 2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311
                time.sleep(delay)

    def close(self) -> None:
        self.pool.close()

    def _exchange(self, operation: str, body: bytes) -> dict[str, Any]:
        extra = (("Content-Type", CONTENT_TYPE), ("X-Amz-Target", TARGET_PREFIX + operation))
        signed = self._signer.headers(
            "POST", self._host, self._path, body, self._credentials(), self._clock(), extra
        )
        data = request_bytes("POST", self._path, [*signed, *extra], body)
        try:
            conn = self.pool.acquire()
        except NotSent as exc:
            raise _Retry from exc
        reusable = False
        self.requests += 1
        try:
            sock = conn.sock
            assert sock is not None
            sock.sendall(data)
            answer, headers, payload = read_response(sock.recv, "POST", RESPONSE_MAX)
            reusable = answer.reusable
        except Exception as exc:  # Query is idempotent: sending it again is harmless
            raise _Retry from exc
        finally:
            self.pool.release(conn, reusable)
        crc = headers.get("x-amz-crc32")
        if crc is not None and crc.isdigit() and int(crc) != zlib.crc32(payload):
            raise _Retry from ValueError("the answer's CRC32 does not match its body")
        try:
            document: dict[str, Any] = json.loads(payload) if payload else {}
        except ValueError as exc:
            raise _Retry from exc
        if 200 <= answer.status < 300:
            return document
        error_type = str(document.get("__type", answer.error_type)).rpartition("#")[2]
        if answer.status >= 500 or error_type in RETRYABLE_TYPES:
            raise _Retry from DynamoQueryError(answer.status, error_type, _message(document))
        raise DynamoQueryError(answer.status, error_type, _message(document))


def _message(document: Mapping[str, Any]) -> str:
    return str(document.get("message") or document.get("Message") or "")
