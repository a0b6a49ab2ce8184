"""The emulator's HTTP front: DynamoDB's JSON 1.0 protocol, everything else to an upstream.

``python -m local.dynamo.server --port P --upstream http://127.0.0.1:M`` answers requests
whose ``X-Amz-Target`` is ``DynamoDB_20120810.<Operation>`` from :class:`Engine`, and
forwards every other request (SQS, Secrets Manager...) unchanged to the upstream (moto's
server), so that functions keep one ``AWS_ENDPOINT_URL``. Signatures are accepted, not
checked. One asyncio loop serves every connection with keep-alive; an operation runs on
the loop itself (it takes microseconds), so a reply costs one parse and one dump of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import threading
import uuid
import zlib
from typing import Any
from urllib.parse import urlsplit

from local.dynamo.engine import Engine
from local.dynamo.errors import ERROR_PREFIX, DynamoError
from local.http11 import HttpRequest, HttpResponse
from local.http_protocol import HttpProtocol

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
HOP_HEADERS = frozenset(("connection", "keep-alive", "content-length", "transfer-encoding"))
SWEEP_INTERVAL = 10.0
log = logging.getLogger("local.dynamo")


class DynamoFront:
    """Turns HTTP requests into engine calls, or forwards them upstream."""

    def __init__(self, engine: Engine, upstream: str | None = None) -> None:
        self.engine = engine
        self.upstream = urlsplit(upstream) if upstream else None
        self.forwarded = 0

    def answer_now(self, request: HttpRequest) -> HttpResponse | None:
        """A DynamoDB operation, answered at once; None for what goes upstream."""
        target = request.header("x-amz-target") or ""
        if target.startswith(TARGET_PREFIX):
            return self.dynamodb(target[len(TARGET_PREFIX) :], request.body)
        return None

    async def handle(self, request: HttpRequest) -> HttpResponse:
        answer = self.answer_now(request)
        if answer is not None:
            return answer
        if self.upstream is None:
            return _reply(400, _unknown("Only DynamoDB is served here (no upstream)"))
        self.forwarded += 1
        try:
            return await forward(
                self.upstream.hostname or "127.0.0.1", self.upstream.port or 80, request
            )
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            return HttpResponse.json(502, {"message": f"upstream unreachable: {exc}"})

    def dynamodb(self, operation: str, body: bytes) -> HttpResponse:
        try:
            document = json.loads(body) if body else {}
            if not isinstance(document, dict):
                raise ValueError("not an object")
        except ValueError:
            error = DynamoError(
                "SerializationException", "Start of structure or map found where not expected"
            )
            return _reply(400, error.document())
        try:
            return _reply(200, self.engine.handle(operation, document))
        except DynamoError as exc:
            return _reply(exc.status, exc.document())
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # A request of the wrong shape; botocore validates most before sending.
            return _reply(
                400,
                DynamoError(
                    "ValidationException", f"Invalid request: {type(exc).__name__} {exc}"
                ).document(),
            )
        except Exception:
            log.exception("internal error in %s", operation)
            return _reply(
                500,
                {
                    "__type": ERROR_PREFIX + "InternalServerError",
                    "message": "Internal server error",
                },
            )


def _unknown(message: str) -> dict[str, str]:
    return {"__type": "com.amazon.coral.service#UnknownOperationException", "message": message}


def _reply(status: int, document: dict[str, Any]) -> HttpResponse:
    body = json.dumps(document, separators=(",", ":")).encode()
    return HttpResponse(status, body, [
        ("Content-Type", CONTENT_TYPE),
        ("x-amzn-RequestId", uuid.uuid4().hex),
        ("x-amz-crc32", str(zlib.crc32(body))),
    ])  # fmt: skip


async def forward(host: str, port: int, request: HttpRequest) -> HttpResponse:
    """Send ``request`` to host:port on a fresh connection; the reply, body read in full."""
    reader, writer = await asyncio.open_connection(host, port, limit=2**20)
    try:
        lines = [f"{request.method} {request.target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in request.headers if k.lower() not in HOP_HEADERS]
        lines += [f"Content-Length: {len(request.body)}", "Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1") + request.body)
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = [(n.strip(), v.strip()) for n, _, v in (h.partition(":") for h in head[1:] if h)]
        found = {n.lower(): v for n, v in headers}
        if request.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "content-length" in found:
            body = await reader.readexactly(int(found["content-length"]))
        elif "chunked" in found.get("transfer-encoding", "").lower():
            body = await _chunked(reader)
        else:
            body = await reader.read()
        kept = [(n, v) for n, v in headers if n.lower() not in HOP_HEADERS]
        return HttpResponse(status, body, kept)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readline()


async def _sweeper(engine: Engine, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        engine.sweep()


async def start(
    engine: Engine, host: str, port: int, upstream: str | None, sweep: float = SWEEP_INTERVAL
) -> tuple[asyncio.Server, asyncio.Task[None]]:
    """Listen on host:port; the server and its TTL sweeper task."""
    front = DynamoFront(engine, upstream)
    # DynamoDB requests are answered from the socket's callbacks (no task per request);
    # forwarded ones wait for the upstream in a task.
    server = await asyncio.get_running_loop().create_server(
        lambda: HttpProtocol(front.answer_now, front.handle, limit=2**20), host, port
    )
    return server, asyncio.ensure_future(_sweeper(engine, sweep))


class EmulatorThread:
    """The emulator on a loop of its own in a daemon thread (tests, benchmarks)."""

    def __init__(self, engine: Engine, port: int, upstream: str | None = None) -> None:
        self.engine = engine
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._upstream = upstream
        self._thread = threading.Thread(target=self._run, name="dynamo-emulator", daemon=True)

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the emulator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server, _ = self._loop.run_until_complete(
            start(self.engine, "127.0.0.1", self.port, self._upstream)
        )
        self._ready.set()
        self._loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.dynamo.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--upstream", help="where non-DynamoDB requests go (moto's server)")
    parser.add_argument(
        "--sweep-interval", type=float, default=SWEEP_INTERVAL, help="seconds between TTL sweeps"
    )
    parser.add_argument(
        "--no-expiry",
        action="store_true",
        help="keep items whose TTL has passed (tests with fixed timestamps)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    engine = Engine(ttl=not args.no_expiry)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server, sweeper = await start(
            engine, args.host, args.port, args.upstream, args.sweep_interval
        )
        log.info("DynamoDB emulator on %s:%s, upstream %s", args.host, args.port, args.upstream)
        await stop.wait()
        sweeper.cancel()
        server.close()
        await server.wait_closed()

    asyncio.run(run())


if __name__ == "__main__":
    main()
