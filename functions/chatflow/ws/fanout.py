"""Fan-out: one MESSAGE to every subscription of a room (or of a user queue).

The room partition is read one Query page at a time and posting starts as soon as a page
arrives. Frames for the same connection go out as ONE WebSocket message (several STOMP
frames in one message are legal) of at most 128 KB, API Gateway's message limit, so a
connection subscribed three times costs one POST. Posts run in parallel on one thread pool
per process, or, when the client has ``post_many`` (the lean client), on one event loop
per page in the calling thread, which costs far less CPU per post. A connection answering
410 Gone has its own items deleted - never the sender's, and never anyone else's.

Above ``inline_max`` subscriptions (and when a queue is configured) the room is sharded
into SQS jobs instead, and the ``fanout_worker`` Lambda calls :meth:`Fanout.run_job`,
which renders and posts with the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from typing import Protocol, runtime_checkable

from chatflow.ws.connections import ConnectionTable, Subscription
from chatflow.ws.fanout_jobs import FanoutJob, FanoutQueue, OutboundMessage, split_jobs
from chatflow.ws.gateway import ConnectionsApi, PostOutcome

MESSAGE_BYTES_MAX = 128 * 1024  # API Gateway WebSocket message limit
DEFAULT_PAGE_SIZE = 1000
DEFAULT_CONNECTIONS = 256
"""HTTP connections in flight for a bulk poster. A post waits on API Gateway far longer
than it costs in CPU (about 20 ms against a fraction of a millisecond), so a page of 1,000
needs a few hundred in flight to be latency-bound by a few round trips rather than by
1,000 / connections of them (docs/benchmarks.md, "Fan-out")."""

log = logging.getLogger(__name__)

Render = Callable[[Subscription], bytes]


@runtime_checkable
class BulkPoster(Protocol):
    """A client that posts many messages in one call, outcomes in ``items`` order.

    Items of one connection are posted in order; after a GONE, that connection's later
    items are not sent and are reported GONE.
    """

    def post_many(
        self, items: Sequence[tuple[str, bytes]], concurrency: int
    ) -> list[PostOutcome]: ...


@dataclass
class FanoutStats:
    """What one fan-out did; ``queries`` counts Query pages, ``posts`` POSTs (no retries)."""

    recipients: int = 0
    posts: int = 0
    gone: int = 0
    failed: int = 0
    queries: int = 0
    jobs: int = 0
    gone_connections: list[str] = field(default_factory=list)


@lru_cache(maxsize=4)
def shared_executor(max_workers: int) -> ThreadPoolExecutor:
    """The posting pool: created once per process (per size) and reused by warm invocations."""
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fanout")


def combine(
    posts: Iterable[tuple[str, bytes]], limit: int = MESSAGE_BYTES_MAX
) -> dict[str, list[bytes]]:
    """Group frames by connection and join them into messages of at most ``limit`` bytes.

    Order is kept per connection. A single frame above ``limit`` stays alone (API Gateway
    will refuse it and the post counts as failed).
    """
    grouped: dict[str, list[bytes]] = {}
    sizes: dict[str, int] = {}
    for cid, frame in posts:
        chunks = grouped.setdefault(cid, [])
        if chunks and sizes[cid] + len(frame) <= limit:
            chunks[-1] += frame
            sizes[cid] += len(frame)
        else:
            chunks.append(frame)
            sizes[cid] = len(frame)
    return grouped


class Fanout:
    """Deliver frames to many connections through a :class:`ConnectionsApi`."""

    def __init__(
        self,
        table: ConnectionTable,
        api: ConnectionsApi,
        max_workers: int = 32,
        inline_max: int = 1000,
        queue: FanoutQueue | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        message_limit: int = MESSAGE_BYTES_MAX,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        """``max_workers`` sizes the posting threads (clients without ``post_many``);
        ``connections`` is how many posts a bulk poster keeps in flight."""
        self.table = table
        self.api = api
        self.inline_max = inline_max
        self.queue = queue
        self.page_size = page_size
        self.message_limit = message_limit
        self.max_workers = max_workers
        self.connections = max(1, connections)
        self._bulk = api if isinstance(api, BulkPoster) else None
        self._executor = shared_executor(max_workers)

    # ------------------------------------------------------------------ entry points

    def to_room(self, room_id: str, render: Render) -> FanoutStats:
        """Send ``render(sub)`` to every subscription of the room.

        With a queue and an :class:`OutboundMessage` (something a job can carry), a room of
        more than ``inline_max`` subscriptions is sharded into SQS jobs; otherwise it is
        posted inline, page by page.
        """
        stats = FanoutStats()
        pages = self._counted(self.table.room_subscriptions(room_id, self.page_size), stats)
        if self.queue is None or not isinstance(render, OutboundMessage):
            return self._stream(pages, render, stats)
        head: list[Subscription] = []
        for page in pages:
            head.extend(page)
            if len(head) > self.inline_max:
                break
        else:
            return self._stream(iter([head]), render, stats)
        jobs = split_jobs(room_id, chain(head, chain.from_iterable(pages)), render)
        self.queue.send(jobs)
        stats.jobs = len(jobs)
        stats.recipients = sum(len(job.targets) for job in jobs)
        return stats

    def to_user(self, user_id: str, destination: str, render: Render) -> FanoutStats:
        """Send to every subscription of the user's connections to a ``/user/queue/...``."""
        stats = FanoutStats(queries=1)
        subs = self.table.user_queue_subscriptions(user_id, destination)
        return self._stream(iter([subs]), render, stats)

    def run_job(self, job: FanoutJob) -> FanoutStats:
        """Render and post one SQS shard (the ``fanout_worker``), as inline fan-out does."""
        subs = [
            Subscription(cid, sub_id, job.destination, job.room_id, user_id="")
            for cid, sub_id in job.targets
        ]
        return self._stream(iter([subs]), job.message, FanoutStats())

    def send_many(self, posts: Iterable[tuple[str, bytes]]) -> FanoutStats:
        """Post frames, combined per connection; deletes connections that are gone."""
        stats = FanoutStats()
        self._collect(self._submit(posts), stats)
        return stats

    # ------------------------------------------------------------------ the core

    def _stream(
        self, pages: Iterator[list[Subscription]], render: Render, stats: FanoutStats
    ) -> FanoutStats:
        """Render and submit each page as it arrives.

        A connection's subscriptions that end a page are held back so they go out with the
        rest of them from the next page. The next page is fetched before a page is posted:
        when it is the last (often empty: a full page of ``Limit`` items still has a
        ``LastEvaluatedKey``), nothing is held back, and the page goes out in one round of
        posts rather than two.
        """
        futures: list[Future[tuple[str, list[PostOutcome]]]] = []
        held: list[Subscription] = []
        page = next(pages, None)
        while page is not None:
            following = next(pages, None)
            while following == []:  # an empty page adds nothing: look past it
                following = next(pages, None)
            subs = held + page
            cut = len(subs)
            if following is not None and subs:
                last = subs[-1].connection_id
                while cut > 0 and subs[cut - 1].connection_id == last:
                    cut -= 1
            ready, held = subs[:cut], subs[cut:]
            if ready:
                futures += self._submit_rendered(ready, render, stats)
            page = following
        self._collect(futures, stats)
        return stats

    def _submit_rendered(
        self, subs: list[Subscription], render: Render, stats: FanoutStats
    ) -> list[Future[tuple[str, list[PostOutcome]]]]:
        stats.recipients += len(subs)
        return self._submit((sub.connection_id, render(sub)) for sub in subs)

    def _submit(
        self, posts: Iterable[tuple[str, bytes]]
    ) -> list[Future[tuple[str, list[PostOutcome]]]]:
        grouped = combine(posts, self.message_limit)
        if self._bulk is not None:
            return self._post_bulk(self._bulk, grouped)
        return [
            self._executor.submit(self._post_connection, cid, chunks)
            for cid, chunks in grouped.items()
        ]

    def _post_bulk(
        self, api: BulkPoster, grouped: dict[str, list[bytes]]
    ) -> list[Future[tuple[str, list[PostOutcome]]]]:
        """Post a page's messages in one ``post_many``; results shaped as the executor's."""
        items = [(cid, chunk) for cid, chunks in grouped.items() for chunk in chunks]
        if not items:
            return []
        try:
            outcomes = api.post_many(items, self.connections)
        except Exception:
            log.exception("bulk post failed")
            outcomes = [PostOutcome.FAILED] * len(items)
        done: list[Future[tuple[str, list[PostOutcome]]]] = []
        at = 0
        for cid, chunks in grouped.items():
            mine, at = outcomes[at : at + len(chunks)], at + len(chunks)
            if PostOutcome.GONE in mine:  # the chunks after it were not sent
                mine = mine[: mine.index(PostOutcome.GONE) + 1]
            future: Future[tuple[str, list[PostOutcome]]] = Future()
            future.set_result((cid, mine))
            done.append(future)
        return done

    def _post_connection(self, cid: str, chunks: list[bytes]) -> tuple[str, list[PostOutcome]]:
        """Post one connection's messages in order; stop at the first GONE."""
        outcomes: list[PostOutcome] = []
        for chunk in chunks:
            try:
                outcome = self.api.post(cid, chunk)
            except Exception:
                log.exception("post to connection failed")
                outcome = PostOutcome.FAILED
            outcomes.append(outcome)
            if outcome is PostOutcome.GONE:
                break
        return cid, outcomes

    def _collect(
        self, futures: list[Future[tuple[str, list[PostOutcome]]]], stats: FanoutStats
    ) -> None:
        gone: list[str] = []
        for future in futures:
            cid, outcomes = future.result()
            stats.posts += len(outcomes)
            stats.failed += outcomes.count(PostOutcome.FAILED)
            if PostOutcome.GONE in outcomes:
                gone.append(cid)
        stats.gone += len(gone)
        stats.gone_connections.extend(gone)
        for cleanup in [self._executor.submit(self._forget, cid) for cid in gone]:
            cleanup.result()

    def _forget(self, cid: str) -> None:
        """Delete a gone connection's items; a failure here must not fail the fan-out."""
        try:
            self.table.delete_connection(cid)
        except Exception:
            log.exception("could not delete gone connection %s", cid)

    @staticmethod
    def _counted(
        pages: Iterator[list[Subscription]], stats: FanoutStats
    ) -> Iterator[list[Subscription]]:
        for page in pages:
            stats.queries += 1
            yield page
