"""What a large room's fan-out hands to SQS: the MESSAGE to render and whom to send it to.

A render function cannot travel through a queue, so a fan-out that may be offloaded is
described as data: an :class:`OutboundMessage` (the JSON body and the headers that are the
same for every recipient) renders the MESSAGE frame of any one subscription, and a
:class:`FanoutJob` carries it with at most :data:`JOB_TARGETS_MAX` (connection,
subscription) targets. The ``fanout_worker`` renders and posts a job with the very code
that posts inline (:meth:`chatflow.ws.fanout.Fanout.run_job`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from chatflow.stomp import message, serialize

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

    from chatflow.ws.connections import Subscription

JSON = "application/json"
JOB_VERSION = 1
JOB_TARGETS_MAX = 400  # about 20 KB of ids per job: far below SQS's 256 KB with the body
SQS_BATCH_MAX = 10  # SendMessageBatch entries
SQS_BATCH_BYTES = 256 * 1024  # SendMessageBatch payload, all entries together
SEND_ATTEMPTS = 5

Header = tuple[str, str]


def render_message_frame(
    destination: str,
    subscription_id: str,
    message_id: str,
    body: str | bytes,
    headers: Iterable[Header] = (),
) -> bytes:
    """The wire bytes of one STOMP 1.2 MESSAGE frame with a JSON body (docs/protocol.md §4)."""
    frame = message(
        destination, subscription_id, message_id, body, [("content-type", JSON), *headers]
    )
    return serialize(frame)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A MESSAGE for many subscriptions; called with one, it renders that one's frame."""

    message_id: str
    body: str  # the JSON document, already encoded as text
    headers: tuple[Header, ...] = ()

    def __call__(self, sub: Subscription) -> bytes:
        return render_message_frame(
            sub.destination, sub.subscription_id, self.message_id, self.body, self.headers
        )


@dataclass(frozen=True, slots=True)
class FanoutJob:
    """One shard of a room's fan-out: the same MESSAGE to these (cid, subId) targets."""

    room_id: str
    destination: str
    targets: tuple[tuple[str, str], ...]
    message: OutboundMessage

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": JOB_VERSION,
                "roomId": self.room_id,
                "destination": self.destination,
                "targets": [list(t) for t in self.targets],
                "payload": {
                    "messageId": self.message.message_id,
                    "body": self.message.body,
                    "headers": [list(h) for h in self.message.headers],
                },
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> FanoutJob:
        """Parse a job; ``ValueError`` for anything that is not one (the worker DLQs it)."""
        try:
            data: Any = json.loads(text)
            if data.get("v") != JOB_VERSION:
                raise ValueError(f"unknown fan-out job version {data.get('v')!r}")
            payload = data["payload"]
            return cls(
                room_id=str(data["roomId"]),
                destination=str(data["destination"]),
                targets=tuple((str(c), str(s)) for c, s in data["targets"]),
                message=OutboundMessage(
                    message_id=str(payload["messageId"]),
                    body=str(payload["body"]),
                    headers=tuple((str(k), str(v)) for k, v in payload["headers"]),
                ),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed fan-out job: {exc!r}") from None


def split_jobs(
    room_id: str, subs: Iterable[Subscription], render: OutboundMessage
) -> list[FanoutJob]:
    """Shard ``subs`` into jobs of at most :data:`JOB_TARGETS_MAX` targets per destination."""
    by_destination: dict[str, list[tuple[str, str]]] = {}
    for sub in subs:
        by_destination.setdefault(sub.destination, []).append(
            (sub.connection_id, sub.subscription_id)
        )
    return [
        FanoutJob(room_id, destination, tuple(targets[i : i + JOB_TARGETS_MAX]), render)
        for destination, targets in by_destination.items()
        for i in range(0, len(targets), JOB_TARGETS_MAX)
    ]


class FanoutQueue(Protocol):
    def send(self, jobs: Sequence[FanoutJob]) -> int:
        """Enqueue every job; returns the number of SQS requests made."""
        ...


class SqsFanoutQueue:
    """:class:`FanoutQueue` on SQS (``FANOUT_QUEUE_URL``): SendMessageBatch, 10 at a time."""

    def __init__(
        self,
        queue_url: str,
        client: SQSClient | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.queue_url = queue_url
        if client is None:
            import boto3

            client = boto3.client("sqs", endpoint_url=endpoint_url or None, region_name=region)
        self.client = client

    def send(self, jobs: Sequence[FanoutJob]) -> int:
        requests = 0
        for batch in _batches([job.to_json() for job in jobs]):
            requests += self._send_batch(batch)
        return requests

    def _send_batch(self, bodies: list[str]) -> int:
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)
        ]
        for attempt in range(SEND_ATTEMPTS):
            reply = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed = {f["Id"] for f in reply.get("Failed", []) if not f.get("SenderFault")}
            fatal = [f for f in reply.get("Failed", []) if f.get("SenderFault")]
            if fatal:
                raise RuntimeError(f"SQS refused fan-out jobs: {fatal[0].get('Code')}")
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                return attempt + 1
            time.sleep(0.05 * 2**attempt * random.uniform(0.5, 1.0))  # noqa: S311
        raise RuntimeError(f"SQS kept failing {len(entries)} fan-out jobs")


def _batches(bodies: list[str]) -> Iterable[list[str]]:
    """Group message bodies so that a batch has at most 10 entries and 256 KB."""
    batch: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode("utf-8"))
        if batch and (len(batch) == SQS_BATCH_MAX or size + length > SQS_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(body)
        size += length
    if batch:
        yield batch
