"""The fan-out queue for large rooms, with a dead-letter queue for poison batches.

``ws_frame`` hands batches of connection ids here when a room has more subscribers than
FANOUT_INLINE_MAX; ``fanout_worker`` reports per-record failures, so one bad batch is
retried alone and lands in the DLQ after ``MAX_RECEIVES`` attempts.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra_cdk.stages import StageConfig

MAX_RECEIVES = 5


class FanoutQueue(Construct):
    """Queue + DLQ, SSE and TLS-only."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, worker_timeout: Duration
    ) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=config.removal_policy,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            # AWS's rule of thumb: six times the consumer's timeout, so retries of a slow
            # batch do not overlap a running one.
            visibility_timeout=Duration.seconds(worker_timeout.to_seconds() * 6),
            retention_period=Duration.days(1),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=MAX_RECEIVES, queue=self.dlq),
            removal_policy=config.removal_policy,
        )
