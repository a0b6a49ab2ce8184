"""Data stores: connection table, PostgreSQL behind RDS Proxy, Valkey, fan-out queues."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from tests.infra.conftest import resources


def test_connection_table_is_on_demand_with_ttl_and_pitr(dev: Template) -> None:
    dev.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "Replicas": [
                Match.object_like(
                    {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
                )
            ],
        },
    )


def test_postgres_17_behind_a_tls_iam_proxy(dev: Template) -> None:
    dev.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": Match.string_like_regexp(r"^1[6-9]\."),
            "StorageEncrypted": True,
            "DBName": "chatflow",
        },
    )
    dev.has_resource_properties(
        "AWS::RDS::DBProxy",
        {
            "EngineFamily": "POSTGRESQL",
            "RequireTLS": True,
            "Auth": [Match.object_like({"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED"})],
        },
    )
    dev.resource_count_is("AWS::SecretsManager::RotationSchedule", 1)


def test_stage_sizes_and_protection_differ(dev: Template, prod: Template) -> None:
    dev.has_resource_properties(
        "AWS::RDS::DBInstance",
        {"MultiAZ": False, "DeletionProtection": False, "DBInstanceClass": "db.t4g.micro"},
    )
    prod.has_resource_properties(
        "AWS::RDS::DBInstance", {"MultiAZ": True, "DeletionProtection": True}
    )
    prod.has_resource("AWS::DynamoDB::GlobalTable", {"DeletionPolicy": "Retain"})
    dev.has_resource("AWS::DynamoDB::GlobalTable", {"DeletionPolicy": "Delete"})
    gateways = (
        len(resources(dev, "AWS::EC2::NatGateway")),
        len(resources(prod, "AWS::EC2::NatGateway")),
    )
    assert gateways == (1, 2)


def test_valkey_serverless_in_the_data_subnets(dev: Template) -> None:
    dev.has_resource_properties(
        "AWS::ElastiCache::ServerlessCache",
        {"Engine": "valkey", "SubnetIds": Match.any_value(), "SecurityGroupIds": Match.any_value()},
    )


def test_vpc_endpoints_keep_aws_calls_off_the_nat(dev: Template) -> None:
    endpoints = resources(dev, "AWS::EC2::VPCEndpoint")
    services = sorted(str(e["Properties"]["ServiceName"]) for e in endpoints.values())
    assert len(services) == 3
    joined = " ".join(services)
    assert "dynamodb" in joined and "sqs" in joined and "secretsmanager" in joined


def test_fanout_queue_has_a_dead_letter_queue(dev: Template) -> None:
    dev.has_resource_properties(
        "AWS::SQS::Queue",
        {"RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": 5}},
    )
    dev.resource_count_is("AWS::SQS::Queue", 2)
