"""The presence sweeper's schedule: every minute (the presence TTL's granularity)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


class SweeperSchedule(Construct):
    """An EventBridge rule; a missed run is harmless, the next one catches up."""

    def __init__(self, scope: Construct, construct_id: str, *, sweeper: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "EveryMinute",
            description="ChatFlow presence sweeper",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(sweeper, retry_attempts=0)],
        )
