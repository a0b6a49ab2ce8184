"""Event sources besides the APIs: EventBridge schedules and SQS event source mappings.

Schedules run on a timer with EventBridge's event shape (``rate(...)`` expressions; a
``cron(...)`` one is reported and skipped). The SQS poller long-polls the queue as Lambda's
poller does, hands batches to the function, deletes what succeeded (all of it, or all but
the ``batchItemFailures`` when the mapping reports item failures) and leaves the rest for
the queue's visibility timeout and redrive policy to retry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import uuid
from typing import Any

from local.template import QueueSubscription, Schedule
from local.workers import Console, FunctionPool

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


async def run_schedule(
    schedule: Schedule,
    pools: dict[str, FunctionPool],
    console: Console,
    region: str,
    interval: float | None = None,
) -> None:
    """Invoke the schedule's functions every period; ``interval`` replaces a rate's period.

    The override exists so that tests can watch the presence sweeper's minute pass in
    seconds; a ``cron(...)`` or disabled schedule stays unrun either way.
    """
    period = rate_seconds(schedule.expression)
    if period is None or not schedule.enabled:
        console.tagged("schedule", f"{schedule.logical_id}: {schedule.expression} not run")
        return
    if interval is not None:
        period = interval
        console.tagged("schedule", f"{schedule.logical_id}: every {interval:g} s (override)")
    while True:
        await asyncio.sleep(period)
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": now,
            "region": region,
            "resources": [f"arn:aws:events:{region}:000000000000:rule/{schedule.logical_id}"],
            "detail": {},
        }
        await asyncio.gather(*(pools[name].invoke(event) for name in schedule.functions))


class SqsPoller:
    """Lambda's SQS poller for one event source mapping."""

    def __init__(
        self,
        subscription: QueueSubscription,
        queue_url: str,
        queue_arn: str,
        pool: FunctionPool,
        sqs: Any,
        region: str,
    ) -> None:
        self.subscription = subscription
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.pool = pool
        self.sqs = sqs
        self.region = region

    async def run(self) -> None:
        while True:
            try:
                received = await asyncio.to_thread(
                    self.sqs.receive_message,
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(10, self.subscription.batch_size),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception as exc:
                self.pool.console.tagged("sqs", f"polling {self.queue_url} failed: {exc}")
                await asyncio.sleep(2)
                continue
            messages = received.get("Messages") or []
            if messages:
                await self._deliver(messages)

    async def _deliver(self, messages: list[dict[str, Any]]) -> None:
        records = [self._record(m) for m in messages]
        result = await self.pool.invoke({"Records": records})
        if not result.ok:
            return  # the whole batch comes back after the visibility timeout
        failed: set[str] = set()
        if self.subscription.report_batch_item_failures and isinstance(result.payload, dict):
            failed = {
                str(item.get("itemIdentifier"))
                for item in result.payload.get("batchItemFailures") or []
            }
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
            ]
            await asyncio.to_thread(
                self.sqs.delete_message_batch, QueueUrl=self.queue_url, Entries=entries
            )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        body = str(message.get("Body", ""))
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }
