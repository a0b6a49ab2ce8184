"""The DynamoDB connection table: on-demand, TTL ``expiresAt``, PITR.

Its items are listed in docs/architecture.md, "Data model".

API Gateway's $disconnect is best-effort; the TTL attribute lets DynamoDB drop what the
sweeper and 410 Gone clean-ups missed. Fan-out reads one partition with a Query.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra_cdk.stages import StageConfig

TTL_ATTRIBUTE = "expiresAt"


class ConnectionTable(Construct):
    """One table, ``pk``/``sk`` strings, pay per request."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=config.is_production,
            removal_policy=config.removal_policy,
        )
