"""The lean DynamoDB Query's retry and error rules, against a scripted HTTP server.

Its answers on a real table are checked against botocore's in test_connection_table.py
(moto and the emulator); here the server answers from a script, to reach throttling,
5xx, a bad CRC and a refused request.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatflow.ws.lean_dynamodb import DynamoQueryError, LeanDynamoDB, resolve_endpoint
from chatflow.ws.lean_gateway import Credentials

pytestmark = pytest.mark.integration

KEYS = Credentials("AKIDEXAMPLE", "secret", "token")
PAGE = {"Items": [{"pk": {"S": "ROOM#r"}, "n": {"N": "1"}}], "Count": 1}
Reply = tuple[int, dict[str, object], bool]  # status, document, whether the CRC is right


class Scripted(ThreadingHTTPServer):
    """Answers POSTs with the next scripted reply; records the requests' headers."""

    daemon_threads = True

    def __init__(self, replies: list[Reply]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies = replies
        self.seen: list[dict[str, str]] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append(dict(self.headers.items()))
        status, document, crc_ok = self.server.replies.pop(0)
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amz-crc32", str(zlib.crc32(body) ^ (0 if crc_ok else 1)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client(server: Scripted, attempts: int = 3) -> LeanDynamoDB:
    port = server.server_address[1]
    return LeanDynamoDB(
        f"http://127.0.0.1:{port}",
        "eu-west-1",
        credentials=lambda: KEYS,
        attempts=attempts,
        backoff=0.001,
    )


def throttled(name: str) -> Reply:
    return 400, {"__type": f"com.amazonaws.dynamodb.v20120810#{name}", "message": "slow"}, True


def test_a_page_is_the_decoded_json_sent_as_dynamodbs_json_protocol(scripted: Scripted) -> None:
    scripted.replies = [(200, PAGE, True)]
    reader = client(scripted)
    assert reader.query({"TableName": "t", "Limit": 5}) == PAGE
    [headers] = scripted.seen
    assert headers["X-Amz-Target"] == "DynamoDB_20120810.Query"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    assert "/eu-west-1/dynamodb/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == "token"


@pytest.mark.parametrize(
    "failure",
    [
        throttled("ProvisionedThroughputExceededException"),
        throttled("ThrottlingException"),
        (500, {"__type": "InternalServerError", "message": "x"}, True),
        (200, PAGE, False),  # corrupted on the way: the CRC does not match
    ],
)
def test_retryable_failures_are_retried_then_answered(scripted: Scripted, failure: Reply) -> None:
    scripted.replies = [failure, failure, (200, PAGE, True)]
    reader = client(scripted, attempts=3)
    assert reader.query({"TableName": "t"}) == PAGE
    assert (reader.requests, len(scripted.seen)) == (3, 3)


def test_retries_stop_after_the_attempts(scripted: Scripted) -> None:
    scripted.replies = [throttled("ThrottlingException")] * 3
    reader = client(scripted, attempts=3)
    with pytest.raises(DynamoQueryError) as raised:
        reader.query({"TableName": "t"})
    assert (raised.value.status, raised.value.error_type) == (400, "ThrottlingException")
    assert len(scripted.seen) == 3


def test_a_refused_request_raises_at_once(scripted: Scripted) -> None:
    scripted.replies = [
        (400, {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad"}, True)
    ]
    reader = client(scripted)
    with pytest.raises(DynamoQueryError, match="ValidationException: bad") as raised:
        reader.query({"TableName": "t"})
    assert raised.value.error_type == "ValidationException"
    assert len(scripted.seen) == 1


def test_an_unreachable_endpoint_is_retried_then_raised() -> None:
    server = Scripted([])
    server.server_close()  # the port is now closed
    reader = client(server, attempts=2)
    with pytest.raises(DynamoQueryError):
        reader.query({"TableName": "t"})
    assert reader.requests == 0  # never sent: the connection could not be opened


def test_the_endpoint_is_resolved_as_botocore_would(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert resolve_endpoint(None, None) == ("https://dynamodb.eu-west-3.amazonaws.com", "eu-west-3")
    assert resolve_endpoint(None, "cn-north-1")[0] == "https://dynamodb.cn-north-1.amazonaws.com.cn"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert resolve_endpoint(None, "us-east-1") == ("http://127.0.0.1:4566", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    assert resolve_endpoint(None, None)[0] == "http://127.0.0.1:8000"
    assert resolve_endpoint("http://x:1", None)[0] == "http://x:1"
