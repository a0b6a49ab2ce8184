"""Many @connections posts from one event loop: :meth:`LeanConnectionsApi.post_many`.

A post waits about 20 ms on API Gateway and costs the sender a fraction of a millisecond
of CPU, so a fan-out to a thousand connections is bound by how many posts are in flight
and by the CPU of each one. Both are pushed here as far as plain asyncio goes: one
:class:`asyncio.Protocol` per HTTP connection whose ``data_received`` parses the answer
from its buffer and resolves one future per request (no ``StreamReader`` line reads, no
task per read), and requests built from parts fixed for the whole call (host, date,
token, scope, signing key), so that per request only the path, the two SHA-256 and the
HMAC of SigV4 are computed.

The contract is the client's (see :mod:`chatflow.ws.lean_gateway`): one outcome per item
in order; a connection's items are posted in order on one HTTP connection; after a GONE
that connection's later items are not sent and are reported GONE; a post is retried only
when the frame surely did not arrive (429 / throttling codes, or a connection that could
not be opened); once a request is written, anything but an answer is FAILED; whatever is
unfinished at the total timeout is FAILED; counters go to :class:`GatewayStats` in one
update; idle connections are kept for the next call.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import logging
import random
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from chatflow.ws.gateway import PostOutcome
from chatflow.ws.lean_gateway import (
    ALGORITHM,
    BODY_MAX,
    HEAD_MAX,
    Answer,
    ProtocolError,
    canonical_uri,
    classify,
    connection_path,
)

if TYPE_CHECKING:
    from chatflow.ws.lean_gateway import LeanConnectionsApi

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- answers


def parse_buffered(buf: bytes, closed: bool) -> tuple[Answer, int] | None:
    """One HTTP/1.1 answer from the front of ``buf``: (answer, bytes used), or None if the
    buffer does not hold all of it yet. ``closed``: the server has closed its end, which
    ends a body that has neither a length nor chunks. Raises ProtocolError."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > HEAD_MAX:
            raise ProtocolError("answer head too long")
        return None
    status, fields, reusable = _head(buf[:end])
    start = end + 4
    used: int | None
    if status < 200 or status in (204, 304):
        used = start
    elif b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        used = _chunked_end(buf, start)
    elif (length := fields.get(b"content-length")) is not None:
        size = int(length)
        if size > BODY_MAX:
            raise ProtocolError(f"answer body of {size} bytes")
        used = start + size if len(buf) >= start + size else None
    elif closed:
        used, reusable = len(buf), False
    else:
        if len(buf) - start > BODY_MAX:
            raise ProtocolError("answer body too long")
        used = None
    if used is None:
        return None
    if status < 200 or used < len(buf):  # an interim answer, or bytes nobody asked for
        reusable = False
    error = fields.get(b"x-amzn-errortype", b"").split(b":", 1)[0].decode("latin-1")
    return Answer(status, error, reusable), used


_WANTED = (b"content-length", b"transfer-encoding", b"connection", b"x-amzn-errortype")


def _head(head: bytes) -> tuple[int, dict[bytes, bytes], bool]:
    """Status, the few header fields this client reads (names lower-cased), keep-alive."""
    line, _, rest = head.partition(b"\r\n")
    version, _, status = line.partition(b" ")
    if not version.startswith(b"HTTP/1.") or not status[:3].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
    fields: dict[bytes, bytes] = {}
    if rest:
        for field in rest.split(b"\r\n"):
            name, _, value = field.partition(b":")
            name = name.strip().lower()
            if name in _WANTED:
                fields[name] = value.strip()
    connection = fields.get(b"connection", b"").lower()
    persistent = version == b"HTTP/1.1" or b"keep-alive" in connection
    reusable = b"close" not in connection and persistent
    return int(status[:3]), fields, reusable


def _chunked_end(buf: bytes, at: int) -> int | None:
    """Where a chunked body starting at ``at`` ends (trailers included), or None."""
    total = 0
    while True:
        eol = buf.find(b"\r\n", at)
        if eol < 0:
            return None
        size = int(buf[at:eol].split(b";")[0], 16)
        total += size
        if total > BODY_MAX:
            raise ProtocolError("answer body too long")
        at = eol + 2
        if size == 0:
            break
        if len(buf) < at + size + 2:
            return None
        at += size + 2
    while True:  # trailer fields, up to an empty line
        eol = buf.find(b"\r\n", at)
        if eol < 0:
            return None
        line_empty = eol == at
        at = eol + 2
        if line_empty:
            return at


# --------------------------------------------------------------------------- connections


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time.

    :meth:`send` writes a request and returns the future of its answer, which
    ``data_received`` resolves as soon as the buffer holds the whole answer, or fails
    when the connection closes first or the server breaks protocol; :meth:`expire`, which
    the caller runs now and then, fails it once ``read_timeout`` has passed (one periodic
    check for all connections costs less than a timer per request). Bytes arriving while
    no request waits make the connection unusable.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self.loop = loop
        self.read_timeout = read_timeout
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.closed = False  # the server closed its end, or the connection is lost
        self.broken = False
        self.waiter: asyncio.Future[Answer] | None = None
        self.deadline = 0.0

    @property
    def usable(self) -> bool:
        transport = self.transport
        return (
            transport is not None
            and not self.closed
            and not self.broken
            and not transport.is_closing()
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        waiter = self.waiter = self.loop.create_future()
        self.buf = b""
        self.deadline = self.loop.time() + self.read_timeout
        self.transport.write(request)
        return waiter

    def expire(self, now: float) -> None:
        """Fail the request in flight if its answer is late."""
        if self.waiter is not None and now >= self.deadline:
            self._fail(TimeoutError("no answer within the read timeout"))

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self.broken = True
            return
        self.buf += data
        self._complete()

    def eof_received(self) -> bool:
        self.closed = True
        if self.waiter is not None:
            self._complete()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None:
            self._complete()
        if self.waiter is not None:
            self._fail(exc or http.client.RemoteDisconnected("connection closed mid-answer"))

    def close(self) -> None:
        self.broken = True
        if self.transport is not None:
            self.transport.close()

    def _complete(self) -> None:
        try:
            parsed = parse_buffered(self.buf, self.closed)
        except (ProtocolError, ValueError) as exc:
            self._fail(exc)
            return
        if parsed is None:
            if self.closed:
                self._fail(http.client.RemoteDisconnected("connection closed mid-answer"))
            return
        answer, _ = parsed
        waiter, self.waiter, self.buf = self.waiter, None, b""
        if not answer.reusable:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


# --------------------------------------------------------------------------- requests


class PostRequests:
    """Signed ``POST {stage}/@connections/{id}`` requests, with SigV4's fixed parts
    (credentials, date, scope, canonical headers, the request head but for the path and
    the signature) computed once a second rather than per request."""

    def __init__(self, api: LeanConnectionsApi) -> None:
        self.api = api
        self.second = -1
        self.parts: tuple[str, str, str, bytes, str] = ("", "", "", b"", "")

    def _refresh(self, now: float) -> tuple[str, str, str, bytes, str]:
        second = int(now)
        if second == self.second:
            return self.parts
        api = self.api
        credentials = api._credentials()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        day = stamp[:8]
        signer = api._signer
        scope = f"{day}/{signer.region}/{signer.service}/aws4_request"
        canonical_headers = f"host:{api._host}\nx-amz-date:{stamp}\n"
        signed = "host;x-amz-date"
        head = f"Host: {api._host}\r\nX-Amz-Date: {stamp}\r\n"
        if credentials.token:
            canonical_headers += f"x-amz-security-token:{credentials.token}\n"
            signed += ";x-amz-security-token"
            head += f"X-Amz-Security-Token: {credentials.token}\r\n"
        key = signer.signing_key(credentials.secret_key, day)
        authorization = (
            f"Authorization: {ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature="
        )
        self.second = second
        self.parts = (
            f"\n\n{canonical_headers}\n{signed}\n",
            f"{ALGORITHM}\n{stamp}\n{scope}\n",
            head + authorization,
            key,
            api._base_path,
        )
        return self.parts

    def post(self, cid: str, body: bytes) -> bytes:
        """The whole signed request, as :meth:`LeanConnectionsApi._request` builds it."""
        middle, string_prefix, head, key, base = self._refresh(self.api._clock())
        path = connection_path(base, cid)
        payload = hashlib.sha256(body).hexdigest()
        canonical = f"POST\n{canonical_uri(path)}{middle}{payload}"
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        signature = hmac.digest(key, f"{string_prefix}{digest}".encode(), "sha256").hex()
        return (
            f"POST {path} HTTP/1.1\r\n{head}{signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode("latin-1")
            + body
        )


# --------------------------------------------------------------------------- the call


class Watchdog:
    """Fails the requests whose answer is late, checking every ``period`` seconds (a
    quarter of the read timeout: a late answer fails between 1 and 1.25 read timeouts
    after its request was written)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, busy: set[HttpConnection], period: float
    ) -> None:
        self.loop = loop
        self.busy = busy
        self.period = period
        self.handle = loop.call_later(period, self._check)

    def _check(self) -> None:
        now = self.loop.time()
        for conn in list(self.busy):
            conn.expire(now)
        self.handle = self.loop.call_later(self.period, self._check)

    def cancel(self) -> None:
        self.handle.cancel()


class Bulk:
    """One ``post_many`` call: workers sharing a queue of connections' items.

    Each worker owns at most one HTTP connection (an idle one kept from an earlier call, or
    one opened when it first needs it) and takes one connection's items at a time. All of
    it runs on one event loop, so the queue and the counters need no lock.
    """

    def __init__(
        self, api: LeanConnectionsApi, items: Sequence[tuple[str, bytes]], concurrency: int
    ) -> None:
        self.api = api
        self.items = items
        self.outcomes: list[PostOutcome | None] = [None] * len(items)
        groups: dict[str, list[int]] = {}
        for index, (cid, _) in enumerate(items):
            groups.setdefault(cid, []).append(index)
        self.work = deque(groups.values())
        self.size = max(1, min(concurrency, len(groups)))
        self.requests = PostRequests(api)
        self.busy: set[HttpConnection] = set()  # waiting for an answer
        self.counts = dict.fromkeys(("posts", "retries", "delivered", "gone", "failed"), 0)

    async def run(self) -> list[PostOutcome]:
        timeout = self.api._bulk_timeout
        for _ in range(2):  # let the loop read what came while it was stopped (EOFs)
            await asyncio.sleep(0)
        workers = [asyncio.ensure_future(self._worker()) for _ in range(self.size)]
        watch = Watchdog(asyncio.get_running_loop(), self.busy, self.api._read_timeout / 4)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*workers)
        except TimeoutError:
            log.warning("bulk post unfinished after %.1f s", timeout)
        finally:
            watch.cancel()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        self.counts["failed"] += self.outcomes.count(None)
        self.api.stats.add(**self.counts)
        return [PostOutcome.FAILED if o is None else o for o in self.outcomes]

    async def _worker(self) -> None:
        idle = self.api.bulk_idle
        conn = idle.pop() if idle else None
        try:
            while self.work:
                group = self.work.popleft()
                for n, index in enumerate(group):
                    outcome, conn = await self._post(index, conn)
                    self.outcomes[index] = outcome
                    if outcome is PostOutcome.GONE:
                        for rest in group[n + 1 :]:
                            self.outcomes[rest] = PostOutcome.GONE
                        break
        except BaseException:  # cancelled by the total timeout: mid-exchange, maybe
            if conn is not None:
                conn.close()
            raise
        if conn is not None and conn.usable:
            idle.append(conn)

    async def _post(
        self, index: int, conn: HttpConnection | None
    ) -> tuple[PostOutcome, HttpConnection | None]:
        cid, data = self.items[index]
        api = self.api
        counts = self.counts
        attempt = 0
        while True:
            counts["posts"] += 1
            outcome, retryable, conn = await self._attempt(self.requests.post(cid, data), conn)
            if not retryable or attempt + 1 >= api._attempts:
                break
            counts["retries"] += 1
            await asyncio.sleep(api._backoff * 2**attempt * random.uniform(0.5, 1.5))  # noqa: S311
            attempt += 1
        counts[outcome.value] += 1
        return outcome, conn

    async def _attempt(
        self, request: bytes, conn: HttpConnection | None
    ) -> tuple[PostOutcome, bool, HttpConnection | None]:
        """One exchange: the outcome, whether to retry, and the connection to use next."""
        if conn is not None and not conn.usable:
            conn.close()
            conn = None
        if conn is None:
            try:
                conn = await self.api._open_bulk_connection()
            except (OSError, TimeoutError):
                return PostOutcome.FAILED, True, None
        busy = self.busy
        busy.add(conn)
        try:
            answer = await conn.send(request)
        except asyncio.CancelledError:  # the total timeout: the caller counts it FAILED
            conn.close()
            raise
        except Exception:  # written, then no answer: it may have been delivered
            conn.close()
            log.warning("post to connection failed after sending", exc_info=True)
            return PostOutcome.FAILED, False, None
        finally:
            busy.discard(conn)
        outcome, retryable = classify(answer.status, answer.error_type)
        return outcome, retryable, conn if conn.usable else None
