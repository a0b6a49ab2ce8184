"""A real HTTP server that speaks the API Gateway @connections API, and records what it got.

boto3's ``apigatewaymanagementapi`` client calls ``POST|GET|DELETE
{endpoint}/@connections/{connectionId}`` (botocore ``service-2.json``; the id is
percent-encoded, and on AWS the endpoint ends with the stage, so any path prefix is
accepted). Errors are answered as API Gateway does: the status, an
``x-amzn-ErrorType`` header naming the exception and a JSON ``{"message": ...}`` body.

Tests mark connections ``gone`` (410), ``throttle`` them for the next N posts (429) or make
them ``fail`` (500), and can add a fixed delay per post. The server is threaded with keep-alive
(HTTP/1.1) and a deep listen backlog so that a fan-out with a hundred posts in flight is not
queued by the endpoint. ``python -m tests.helpers.connections_endpoint --delay-ms 20`` runs it
on its own (benchmarks, so its CPU is not counted as the poster's); ``GET /_stats`` then
reports what it recorded.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import unquote, urlsplit

MARKER = "/@connections/"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    endpoint: ConnectionsEndpoint


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _cid(self) -> str | None:
        path = urlsplit(self.path).path
        at = path.find(MARKER)
        if at < 0:
            at = path.find("/%40connections/")
            if at < 0:
                return None
            return unquote(path[at + len("/%40connections/") :])
        return unquote(path[at + len(MARKER) :])

    def _reply(self, status: int, body: bytes = b"", error: str | None = None) -> None:
        self.send_response(status)
        if error is not None:
            self.send_header("x-amzn-ErrorType", error)
            body = json.dumps({"message": error}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cid = self._cid()
        if cid is None:
            self._reply(404, error="NotFoundException")
            return
        status, error = self.server.endpoint.handle_post(cid, data)
        self._reply(status, error=error)

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/_stats":
            self._reply(200, json.dumps(self.server.endpoint.summary()).encode())
            return
        cid = self._cid()
        if cid is None or not self.server.endpoint.is_live(cid):
            self._reply(410, error="GoneException")
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        info = {
            "ConnectedAt": now,
            "LastActiveAt": now,
            "Identity": {"SourceIp": "127.0.0.1", "UserAgent": "tests"},
        }
        self._reply(200, json.dumps(info).encode())

    def do_DELETE(self) -> None:
        cid = self._cid()
        if cid is None or not self.server.endpoint.is_live(cid):
            self._reply(410, error="GoneException")
            return
        self.server.endpoint.close(cid)
        self._reply(204)


class ConnectionsEndpoint:
    """The recording @connections endpoint on 127.0.0.1 and a random port."""

    def __init__(self, delay: float = 0.0, port: int = 0) -> None:
        self.delay = delay
        self._lock = threading.Lock()
        self.posts: dict[str, list[bytes]] = defaultdict(list)  # delivered (200) only
        self.attempts: dict[str, int] = defaultdict(int)  # every POST, refused ones too
        self.deleted: list[str] = []
        self._gone: set[str] = set()
        self._throttle: dict[str, int] = {}
        self._fail: set[str] = set()
        self._in_flight = 0
        self.max_in_flight = 0
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.endpoint = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """What ``WS_MANAGEMENT_ENDPOINT`` would be (with a stage, as on AWS)."""
        return f"http://127.0.0.1:{self._server.server_port}/test"

    # ---------------------------------------------------------------- behaviour

    def mark_gone(self, cid: str) -> None:
        with self._lock:
            self._gone.add(cid)

    def close(self, cid: str) -> None:
        """DeleteConnection: the connection is gone from now on."""
        with self._lock:
            self._gone.add(cid)
            self.deleted.append(cid)

    def throttle(self, cid: str, times: int) -> None:
        """Answer the next ``times`` posts to ``cid`` with 429 LimitExceededException."""
        with self._lock:
            self._throttle[cid] = times

    def fail(self, cid: str) -> None:
        """Answer every post to ``cid`` with 500 InternalServerErrorException."""
        with self._lock:
            self._fail.add(cid)

    def is_live(self, cid: str) -> bool:
        with self._lock:
            return cid not in self._gone

    def handle_post(self, cid: str, data: bytes) -> tuple[int, str | None]:
        with self._lock:
            self.attempts[cid] += 1
            if cid in self._gone:
                return 410, "GoneException"
            if self._throttle.get(cid, 0) > 0:
                self._throttle[cid] -= 1
                return 429, "LimitExceededException"
            if cid in self._fail:
                return 500, "InternalServerErrorException"
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            with self._lock:
                self.posts[cid].append(data)
        finally:
            with self._lock:
                self._in_flight -= 1
        return 200, None

    # ---------------------------------------------------------------- reading

    def delivered(self) -> dict[str, list[bytes]]:
        with self._lock:
            return {cid: list(posts) for cid, posts in self.posts.items()}

    def summary(self) -> dict[str, int]:
        with self._lock:
            return {
                "posts": sum(len(p) for p in self.posts.values()),
                "attempts": sum(self.attempts.values()),
                "connections": len(self.posts),
                "maxInFlight": self.max_in_flight,
            }

    def reset(self) -> None:
        with self._lock:
            self.posts.clear()
            self.attempts.clear()
            self.max_in_flight = 0

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> ConnectionsEndpoint:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="connections-endpoint", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the command-line use)."""
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ConnectionsEndpoint:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    endpoint = ConnectionsEndpoint(delay=args.delay_ms / 1000, port=args.port)
    print(endpoint.url, flush=True)
    endpoint.serve_forever()


if __name__ == "__main__":
    main()
