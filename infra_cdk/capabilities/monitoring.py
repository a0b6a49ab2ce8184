"""Alarms (errors, throttles, DLQ depth, 5xx, latency) to one SNS topic, and one dashboard.

Thresholds come from the stage config: dev tolerates a few errors, prod pages on the
first. Missing data is "not breaching": a quiet stage at night is not an incident.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra_cdk.capabilities.functions import pascal
from infra_cdk.stages import StageConfig

FIVE_MINUTES = Duration.minutes(5)


class Monitoring(Construct):
    """Every alarm of the stage notifies ``topic``; the dashboard shows the same metrics."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        functions: Mapping[str, lambda_.Function],
        rest_api: apigw.RestApi,
        ws_api_id: str,
        ws_stage: str,
        queue: sqs.IQueue,
        dlq: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.topic = sns.Topic(
            self, "Alarms", display_name=f"ChatFlow {config.name} alarms", enforce_ssl=True
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []
        dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"chatflow-{config.name}"
        )

        for key, fn in functions.items():
            self._alarm(
                f"{pascal(key)}Errors",
                fn.metric_errors(period=FIVE_MINUTES),
                config.errors_per_5min,
                f"{key}: invocation errors",
            )
            self._alarm(
                f"{pascal(key)}Throttles",
                fn.metric_throttles(period=FIVE_MINUTES),
                1,
                f"{key}: throttled invocations",
            )

        dlq_depth = dlq.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic="Maximum"
        )
        self._alarm("FanoutDlqDepth", dlq_depth, 1, "fan-out batches in the dead-letter queue")
        rest_5xx = rest_api.metric_server_error(period=FIVE_MINUTES)
        self._alarm("Rest5xx", rest_5xx, 5, "REST API 5xx responses")
        rest_latency = rest_api.metric_latency(period=FIVE_MINUTES, statistic="p99")
        self._alarm(
            "RestLatencyP99",
            rest_latency,
            config.latency_p99_ms,
            f"REST API p99 latency above {config.latency_p99_ms} ms",
            periods=3,
        )
        ws_dimensions = {"ApiId": ws_api_id, "Stage": ws_stage}
        ws_errors = cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name="IntegrationError",
            dimensions_map=ws_dimensions,
            statistic="Sum",
            period=FIVE_MINUTES,
        )
        self._alarm("WebSocketIntegrationErrors", ws_errors, 5, "WebSocket integration errors")
        ws_latency = cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name="IntegrationLatency",
            dimensions_map=ws_dimensions,
            statistic="p99",
            period=FIVE_MINUTES,
        )
        self._alarm(
            "WebSocketLatencyP99",
            ws_latency,
            config.latency_p99_ms,
            f"WebSocket integration p99 latency above {config.latency_p99_ms} ms",
            periods=3,
        )
        ws_messages = cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name="MessageCount",
            dimensions_map=ws_dimensions,
            statistic="Sum",
            period=FIVE_MINUTES,
        )

        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Lambda errors",
                left=[fn.metric_errors(period=FIVE_MINUTES) for fn in functions.values()],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Lambda p99 duration",
                left=[
                    fn.metric_duration(period=FIVE_MINUTES, statistic="p99")
                    for fn in functions.values()
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="REST 5xx / p99 latency", left=[rest_5xx], right=[rest_latency], width=8
            ),
            cloudwatch.GraphWidget(
                title="WebSocket messages / errors", left=[ws_messages], right=[ws_errors], width=8
            ),
            cloudwatch.GraphWidget(
                title="Fan-out queue",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES),
                    queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES),
                ],
                right=[dlq_depth],
                width=8,
            ),
        )
        dashboard.add_widgets(cloudwatch.AlarmStatusWidget(alarms=list(self.alarms), width=24))

    def _alarm(
        self, name: str, metric: cloudwatch.IMetric, threshold: float, what: str, periods: int = 1
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_description=f"ChatFlow {self.config.name}: {what}",
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
