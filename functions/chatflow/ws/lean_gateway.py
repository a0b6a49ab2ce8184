"""A lean @connections client: SigV4 over stdlib ``http.client`` keep-alive connections.

Fan-out posts one small message per connection, so the cost that counts is the CPU of one
POST, and posting threads share one GIL: botocore spends 2.5 to 3 ms of CPU on a
``post_to_connection`` (parameter validation, serialisation, event hooks, its signer,
urllib3) where the HTTP exchange itself costs about a tenth of that. This client does only
what the @connections API needs: sign with AWS Signature Version 4 (service
``execute-api``) with a signing key derived once a day, and send ``POST|GET|DELETE
{stage}/@connections/{id}`` on a persistent HTTP/1.1 connection taken from a small pool.

``http.client`` opens the connections (TCP, TLS with ``ssl.create_default_context()``,
timeouts); the exchange itself is written here: the request leaves in one ``send`` and the
answer is read by a small HTTP/1.1 reader (status, ``x-amzn-ErrorType``, Content-Length or
chunked body, keep-alive). ``HTTPConnection.request``/``getresponse`` cost about 0.3 ms of
CPU per exchange on the benchmark machine (two sends, and the ``email`` package parsing
the response head); this costs about a quarter of that, and fan-out runs a thousand of
them on one core.

It keeps the contract of :class:`chatflow.ws.gateway.BotoConnectionsApi`: the same
:class:`PostOutcome`, the same :class:`GatewayStats`, and the same retry rule - a POST is
retried only when the frame certainly did not reach the connection (429
LimitExceededException, or a TCP/TLS connection that could not be opened); once a request
has been written, anything but an answer counts as FAILED, because a retry could show the
client a duplicate frame.

Credentials come from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
``AWS_SESSION_TOKEN``, as Lambda provides them; without them botocore's credential chain is
asked once, at init.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import logging
import os
import random
import re
import select
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from chatflow.ws.gateway import DEFAULT_ATTEMPTS, RETRYABLE_CODES, GatewayStats, PostOutcome

if TYPE_CHECKING:
    import ssl

    from chatflow.ws.gateway import ConnectionsApi
    from chatflow.ws.lean_bulk import HttpConnection

SERVICE = "execute-api"
ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MARKER = "/@connections/"

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- signing


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


CredentialSource = Callable[[], Credentials]


def env_credentials(environ: dict[str, str] | None = None) -> Credentials | None:
    """The credentials Lambda puts in the environment, or None when they are not there."""
    env = os.environ if environ is None else environ
    access, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not access or not secret:
        return None
    return Credentials(access, secret, env.get("AWS_SESSION_TOKEN") or None)


def default_credentials() -> CredentialSource:
    """The environment's credentials, else botocore's chain (profiles, container, IMDS).

    botocore is imported only on that fallback. Its credentials may refresh themselves, so
    they are frozen again at each signature (a cheap check of an expiry time).
    """
    found = env_credentials()
    if found is not None:
        return lambda: found
    import botocore.session

    chain = botocore.session.get_session().get_credentials()
    if chain is None:
        raise RuntimeError("no AWS credentials found for the @connections API")

    def frozen() -> Credentials:
        current = chain.get_frozen_credentials()
        return Credentials(current.access_key or "", current.secret_key or "", current.token)

    return frozen


class SigV4Signer:
    """AWS Signature Version 4 for requests without a query string.

    The canonical URI is the request path as sent (already percent-encoded once, the
    connection id with ``=`` as ``%3D``) percent-encoded once more, as the specification
    asks of every service but S3; the payload is hashed (the @connections API takes no
    unsigned payload). The derived key depends only on the secret and the day, so it is
    computed once per day rather than with four HMACs per request.
    """

    def __init__(self, region: str, service: str = SERVICE) -> None:
        self.region = region
        self.service = service
        self._key: tuple[str, str, bytes] = ("", "", b"")  # (secret, yyyymmdd, key)

    def signing_key(self, secret: str, day: str) -> bytes:
        cached_secret, cached_day, key = self._key
        if cached_secret == secret and cached_day == day:
            return key
        key = _hmac(f"AWS4{secret}".encode(), day)
        for part in (self.region, self.service, "aws4_request"):
            key = _hmac(key, part)
        self._key = (secret, day, key)  # one tuple: threads never see half an update
        return key

    def headers(
        self,
        method: str,
        host: str,
        path: str,
        body: bytes,
        credentials: Credentials,
        now: float,
        extra: Sequence[tuple[str, str]] = (),
    ) -> list[tuple[str, str]]:
        """The headers that sign the request: Host, X-Amz-Date, the token, Authorization.

        ``extra`` are further headers the request carries and the signature covers (such
        as DynamoDB's ``Content-Type`` and ``X-Amz-Target``); they are not returned.
        """
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        day = stamp[:8]
        signed_fields = [("host", host), ("x-amz-date", stamp)]
        if credentials.token:
            signed_fields.append(("x-amz-security-token", credentials.token))
        if extra:
            signed_fields += [(name.lower(), " ".join(value.split())) for name, value in extra]
            signed_fields.sort()
        canonical_headers = "".join(f"{name}:{value}\n" for name, value in signed_fields)
        signed = ";".join(name for name, _ in signed_fields)
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        canonical = "\n".join((method, canonical_uri(path), "", canonical_headers, signed, payload))
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join(
            (ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        key = self.signing_key(credentials.secret_key, day)
        signature = hmac.digest(key, to_sign.encode(), "sha256").hex()
        authorization = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        headers = [("Host", host), ("X-Amz-Date", stamp)]
        if credentials.token:
            headers.append(("X-Amz-Security-Token", credentials.token))
        headers.append(("Authorization", authorization))
        return headers


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.digest(key, text.encode(), "sha256")


_PLAIN_ID = re.compile(r"[A-Za-z0-9_.~=+/-]*")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.~/%@-]*")


def connection_path(base_path: str, cid: str) -> str:
    """``{stage}/@connections/{id}`` with the id percent-encoded as botocore encodes it.

    API Gateway's ids are base64 (``=``, and possibly ``+`` and ``/``): those three are
    replaced directly, which is several times cheaper than ``quote``; anything else is
    quoted.
    """
    if _PLAIN_ID.fullmatch(cid):
        encoded = cid.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    else:
        encoded = quote(cid, safe="-._~")
    return f"{base_path}{MARKER}{encoded}"


def canonical_uri(path: str) -> str:
    """The path encoded once more (SigV4 for every service but S3); fast for plain paths."""
    if _PLAIN_PATH.fullmatch(path):
        return path.replace("%", "%25").replace("@", "%40")
    return quote(path, safe="/~")


# --------------------------------------------------------------------------- the pool


class NotSent(Exception):
    """The connection could not be opened: the request surely did not leave."""


class ConnectionPool:
    """At most ``size`` persistent HTTP/1.1 connections to one host, shared by threads.

    A caller holds a connection for one exchange; when all are busy it waits. Idle
    connections are reused newest first (the oldest are the likeliest to have been closed
    by the server), and one the server has closed is noticed before it is used again.
    ``opened`` counts TCP connections ever opened.
    """

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        size: int,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self.size = max(1, size)
        self.opened = 0
        self._scheme, self._host, self._port = scheme, host, port
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.size)
        self._tls: ssl.SSLContext | None = None

    def acquire(self) -> http.client.HTTPConnection:
        """A connected connection (blocks while ``size`` are in use); raises NotSent."""
        self._slots.acquire()
        try:
            while True:
                with self._lock:
                    conn = self._idle.pop() if self._idle else None
                if conn is None:
                    return self._open()
                if not _closed_by_peer(conn):
                    return conn
                conn.close()
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn: http.client.HTTPConnection, reusable: bool) -> None:
        if reusable:
            with self._lock:
                self._idle.append(conn)
        else:
            conn.close()
        self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _open(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._scheme == "https":
            if self._tls is None:
                import ssl

                self._tls = ssl.create_default_context()
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout, context=self._tls
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        try:
            conn.connect()
        except OSError as exc:  # refused, unreachable, connect timeout, TLS handshake
            conn.close()
            raise NotSent(str(exc)) from exc
        assert conn.sock is not None
        conn.sock.settimeout(self._read_timeout)
        with self._lock:
            self.opened += 1
        return conn


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle connection is readable only if the server closed it (or broke protocol)."""
    if conn.sock is None:
        return True
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


# --------------------------------------------------------------------------- HTTP/1.1


HEAD_MAX = 64 * 1024
BODY_MAX = 1024 * 1024  # @connections answers are empty or a small JSON error


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 as this client reads it."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    error_type: str  # x-amzn-ErrorType without its ":..." suffix, or ""
    reusable: bool  # the connection can carry the next request


class _Reader:
    """Buffered reads from ``recv``; a closed connection before the end is an error."""

    def __init__(self, recv: Callable[[int], bytes], body_max: int = BODY_MAX) -> None:
        self._recv = recv
        self.body_max = body_max
        self.buf = b""

    def _fill(self) -> None:
        chunk = self._recv(65536)
        if not chunk:
            raise http.client.RemoteDisconnected("connection closed before the answer ended")
        self.buf += chunk

    def until(self, mark: bytes, limit: int) -> bytes:
        while (at := self.buf.find(mark)) < 0:
            if len(self.buf) > limit:
                raise ProtocolError("answer head or chunk line too long")
            self._fill()
        out, self.buf = self.buf[:at], self.buf[at + len(mark) :]
        return out

    def exactly(self, size: int) -> bytes:
        if size > self.body_max:
            raise ProtocolError(f"answer body of {size} bytes")
        while len(self.buf) < size:
            self._fill()
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

    def to_end(self) -> bytes:
        while chunk := self._recv(65536):
            if len(self.buf) + len(chunk) > self.body_max:
                raise ProtocolError("answer body too long")
            self.buf += chunk
        out, self.buf = self.buf, b""
        return out


def parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """Status, lower-cased headers, and whether HTTP/1.x lets the connection be kept."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    reusable = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    return int(rest[:3]), headers, reusable


def read_answer(recv: Callable[[int], bytes], method: str) -> Answer:
    """Read one HTTP/1.1 response: status, error type, and whether to keep the connection.

    The body is read to its end (Content-Length, chunked, or until the server closes) so
    that the connection is ready for the next request, then dropped: only the status and
    ``x-amzn-ErrorType`` matter to the @connections API.
    """
    return read_response(recv, method)[0]


def read_response(
    recv: Callable[[int], bytes], method: str, body_max: int = BODY_MAX
) -> tuple[Answer, dict[str, str], bytes]:
    """:func:`read_answer`, also giving the lower-cased header fields and the body."""
    reader = _Reader(recv, body_max)
    status, headers, reusable = parse_head(reader.until(b"\r\n\r\n", HEAD_MAX))
    body = b""
    if method == "HEAD" or status < 200 or status in (204, 304):
        pass
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        total = 0
        while size := int(reader.until(b"\r\n", 1024).split(b";")[0], 16):
            total += size
            if total > body_max:
                raise ProtocolError("answer body too long")
            chunks.append(reader.exactly(size + 2)[:-2])
        while reader.until(b"\r\n", HEAD_MAX):  # trailer fields, up to an empty line
            pass
        body = b"".join(chunks)
    elif "content-length" in headers:
        body = reader.exactly(int(headers["content-length"]))
    else:
        body = reader.to_end()
        reusable = False
    if status < 200 or reader.buf:  # an interim answer or bytes nobody asked for
        reusable = False
    error = headers.get("x-amzn-errortype", "").split(":", 1)[0]
    return Answer(status, error, reusable), headers, body


def request_bytes(method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """The whole request in one buffer, so that it leaves in one ``send``."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    length = f"Content-Length: {len(body)}\r\n" if method == "POST" else ""
    return f"{method} {path} HTTP/1.1\r\n{head}{length}\r\n".encode("latin-1") + body


# --------------------------------------------------------------------------- the client


class GatewayError(Exception):
    """An answer other than success or 410 to DELETE or GET."""

    def __init__(self, status: int, error_type: str) -> None:
        super().__init__(f"@connections answered {status} {error_type}".rstrip())
        self.status = status
        self.error_type = error_type


class LeanConnectionsApi:
    """:class:`ConnectionsApi` over ``http.client`` with its own SigV4 signing.

    ``endpoint_url`` is ``https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`` on
    AWS (``WS_MANAGEMENT_ENDPOINT``) or the local gateway's ``http://`` one.
    """

    def __init__(
        self,
        endpoint_url: str,
        region: str | None = None,
        max_pool_connections: int = 64,
        connect_timeout: float = 1.0,
        read_timeout: float = 3.0,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.02,
        credentials: CredentialSource | None = None,
        clock: Callable[[], float] = time.time,
        bulk_timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        self.stats = GatewayStats()
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._clock = clock
        self._credentials = credentials or default_credentials()
        self._signer = SigV4Signer(region or os.environ.get("AWS_REGION") or "us-east-1")
        default_port = 443 if parts.scheme == "https" else 80
        self._host = parts.hostname if parts.port in (None, default_port) else parts.netloc
        self._base_path = parts.path.rstrip("/")
        self._scheme, self._hostname, self._port = parts.scheme, parts.hostname, parts.port
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self._bulk_timeout = bulk_timeout
        self._tls: ssl.SSLContext | None = None
        # post_many's event loop and its idle connections, kept between calls (warm
        # invocations reuse them); the loop runs only inside post_many, one caller at a time
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self.bulk_idle: list[HttpConnection] = []
        self.bulk_opened = 0
        self.pool = ConnectionPool(
            parts.scheme,
            parts.hostname,
            parts.port,
            max_pool_connections,
            connect_timeout,
            read_timeout,
        )

    def post(self, cid: str, data: bytes) -> PostOutcome:
        """Send ``data`` as one WebSocket message; retried only while surely undelivered."""
        attempt = 0
        while True:
            outcome, retryable = self._post_once(cid, data)
            if not retryable or attempt + 1 >= self._attempts:
                break
            time.sleep(self._backoff * 2**attempt * random.uniform(0.5, 1.5))  # noqa: S311
            attempt += 1
        # one update per post: the counters' lock is shared by every posting thread
        self.stats.add(posts=attempt + 1, retries=attempt, **{outcome.value: 1})
        return outcome

    def _post_once(self, cid: str, data: bytes) -> tuple[PostOutcome, bool]:
        """One attempt: the outcome, and whether the frame surely did not arrive."""
        try:
            status, error = self._exchange("POST", cid, data)
        except NotSent:
            return PostOutcome.FAILED, True
        except Exception:  # written, then no answer: it may have been delivered
            log.warning("post to connection failed after sending", exc_info=True)
            return PostOutcome.FAILED, False
        return classify(status, error)

    def post_many(self, items: Sequence[tuple[str, bytes]], concurrency: int) -> list[PostOutcome]:
        """Post every ``(cid, data)`` from one event loop; the outcomes in ``items`` order.

        A thread per post costs a GIL hand-over and a blocking ``recv`` per answer; one
        event loop run in the calling thread with ``concurrency`` keep-alive connections
        does the same exchanges with a fraction of that CPU. The loop is private and kept
        between calls (rather than ``asyncio.run``, which would close it) so that its
        connections, TLS handshakes included, serve the next calls too. The items of one
        connection are
        posted in order, one after the other, by the same worker (a split message must
        arrive in order); after a GONE its later items are not sent and are reported GONE.
        Retry rules and :attr:`stats` are those of :meth:`post`. Whatever has not finished
        after ``bulk_timeout`` seconds is FAILED.

        Called where an event loop already runs (loops cannot nest), or while another
        thread is in ``post_many``, the posts go through :meth:`post` on threads instead.
        """
        if not items:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return self._post_many_threaded(items, concurrency)
        if not self._loop_lock.acquire(blocking=False):
            return self._post_many_threaded(items, concurrency)
        try:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
            from chatflow.ws.lean_bulk import Bulk

            return self._loop.run_until_complete(Bulk(self, items, concurrency).run())
        finally:
            self._loop_lock.release()

    def _post_many_threaded(
        self, items: Sequence[tuple[str, bytes]], concurrency: int
    ) -> list[PostOutcome]:
        outcomes = [PostOutcome.FAILED] * len(items)
        groups = _groups(items)

        def run(group: list[int]) -> None:
            for n, index in enumerate(group):
                outcomes[index] = self.post(*items[index])
                if outcomes[index] is PostOutcome.GONE:
                    for rest in group[n + 1 :]:
                        outcomes[rest] = PostOutcome.GONE
                    return

        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(groups)))) as pool:
            list(pool.map(run, groups))
        return outcomes

    def _request(self, method: str, cid: str, body: bytes) -> bytes:
        """The signed request, ready to be written in one piece."""
        path = connection_path(self._base_path, cid)
        headers = self._signer.headers(
            method, self._host, path, body, self._credentials(), self._clock()
        )
        return request_bytes(method, path, headers, body)

    async def _open_bulk_connection(self) -> HttpConnection:
        """A new connection for ``post_many`` (TLS for https); raises OSError/TimeoutError."""
        from chatflow.ws.lean_bulk import HttpConnection

        tls: ssl.SSLContext | None = None
        if self._scheme == "https":
            if self._tls is None:
                import ssl

                self._tls = ssl.create_default_context()
            tls = self._tls
        port = self._port or (443 if tls is not None else 80)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout):
            _, conn = await loop.create_connection(
                lambda: HttpConnection(loop, self._read_timeout),
                self._hostname,
                port,
                ssl=tls,
                server_hostname=self._hostname if tls is not None else None,
            )
        self.bulk_opened += 1
        return conn

    def delete(self, cid: str) -> bool:
        """Close the connection (kick, DISCONNECT); False when it was already gone."""
        return self._probe("DELETE", cid)

    def exists(self, cid: str) -> bool:
        """Whether API Gateway still knows the connection (the sweeper's probe)."""
        return self._probe("GET", cid)

    def close(self) -> None:
        self.pool.close()
        with self._loop_lock:
            idle, self.bulk_idle = self.bulk_idle, []
            for conn in idle:
                conn.close()
            if self._loop is not None:
                self._loop.run_until_complete(asyncio.sleep(0))  # let the transports close
                self._loop.close()
                self._loop = None

    def _probe(self, method: str, cid: str) -> bool:
        status, error = self._exchange(method, cid, b"")
        if 200 <= status < 300:
            return True
        if status == 410:
            return False
        raise GatewayError(status, error)

    def _exchange(self, method: str, cid: str, body: bytes) -> tuple[int, str]:
        """One request on a pooled connection: (status, error type without its suffix)."""
        data = self._request(method, cid, body)
        conn = self.pool.acquire()
        reusable = False
        try:
            sock = conn.sock
            assert sock is not None
            sock.sendall(data)
            answer = read_answer(sock.recv, method)
            reusable = answer.reusable
            return answer.status, answer.error_type
        finally:
            self.pool.release(conn, reusable)


def _throttled(status: int, error: str) -> bool:
    return status == 429 or error in RETRYABLE_CODES


def classify(status: int, error: str) -> tuple[PostOutcome, bool]:
    """An answer to a POST: its outcome, and whether the frame surely did not arrive."""
    if 200 <= status < 300:
        return PostOutcome.DELIVERED, False
    if status == 410:
        return PostOutcome.GONE, False
    if _throttled(status, error):
        return PostOutcome.FAILED, True
    log.warning("@connections answered %s %s", status, error)
    return PostOutcome.FAILED, False


def _groups(items: Sequence[tuple[str, bytes]]) -> list[list[int]]:
    """The indexes of each connection's items, connections in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, (cid, _) in enumerate(items):
        groups.setdefault(cid, []).append(index)
    return list(groups.values())


def build_connections_api(
    kind: str, endpoint_url: str, region: str | None, max_pool_connections: int = 64
) -> ConnectionsApi:
    """The @connections client named by ``WS_CONNECTIONS_CLIENT``: "lean" or "botocore"."""
    if kind == "botocore":
        from chatflow.ws.gateway import BotoConnectionsApi

        return BotoConnectionsApi(endpoint_url, region, max_pool_connections)
    return LeanConnectionsApi(endpoint_url, region, max_pool_connections)
