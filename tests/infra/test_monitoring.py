"""Alarms on errors, throttles, DLQ depth, 5xx and latency; one dashboard; web hosting."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from infra_cdk.names import FUNCTIONS
from tests.infra.conftest import as_json, resources


def _alarms(template: Template) -> dict[str, str]:
    return {
        logical: as_json(body["Properties"])
        for logical, body in resources(template, "AWS::CloudWatch::Alarm").items()
    }


def test_every_function_has_error_and_throttle_alarms(dev: Template) -> None:
    alarms = _alarms(dev)
    errors = [a for a in alarms.values() if '"MetricName": "Errors"' in a]
    throttles = [a for a in alarms.values() if '"MetricName": "Throttles"' in a]
    assert len(errors) == len(throttles) == len(FUNCTIONS)


def test_dlq_5xx_and_latency_alarms(dev: Template) -> None:
    alarms = " ".join(_alarms(dev).values())
    for metric in (
        "ApproximateNumberOfMessagesVisible",
        "5XXError",
        "Latency",
        "IntegrationError",
        "IntegrationLatency",
    ):
        assert f'"MetricName": "{metric}"' in alarms, metric


def test_alarms_notify_the_stage_topic(dev: Template, prod: Template) -> None:
    for body in resources(dev, "AWS::CloudWatch::Alarm").values():
        assert len(body["Properties"]["AlarmActions"]) == 1
    prod.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )
    dev.resource_count_is("AWS::SNS::Subscription", 0)


def test_one_dashboard(dev: Template) -> None:
    dev.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_web_is_private_s3_behind_cloudfront_with_endpoints(dev: Template) -> None:
    dev.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {"DistributionConfig": Match.object_like({"DefaultRootObject": "index.html"})},
    )
    dev.has_resource_properties(
        "AWS::S3::Bucket",
        {"PublicAccessBlockConfiguration": Match.object_like({"BlockPublicPolicy": True})},
    )
    (deployment,) = resources(dev, "Custom::CDKBucketDeployment").values()
    assert "config.json" in as_json(deployment["Properties"]["SourceMarkers"]) or (
        "WebSocketApi" in as_json(deployment["Properties"])
    )
