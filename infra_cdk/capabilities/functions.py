"""The dependency layer, the eight functions and the least-privilege grants.

Every function: arm64, the newest Python runtime, the shared layer, its own role and log
group, in the app subnets. Each role gets only the calls its handler makes
(``infra_cdk.names.FUNCTIONS``). Traffic goes to the ``live`` alias, which moves to a
new version only after the migration custom resource succeeded (see ``publish``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_dynamodb import ITableV2
from constructs import Construct

from infra_cdk.bundling import ARCHITECTURE, RUNTIME, function_code, layer_code
from infra_cdk.capabilities.network import Network
from infra_cdk.names import (
    DB_USER,
    FUNCTIONS,
    LIVE_ALIAS,
    METRICS_NAMESPACE,
    SERVICE,
    Access,
    FunctionSpec,
)
from infra_cdk.stages import StageConfig


def pascal(key: str) -> str:
    """``ws_frame`` -> ``WsFrame``: construct ids that read like the handler names."""
    return "".join(part.capitalize() for part in key.split("_"))


class Functions(Construct):
    """All Lambda functions of a stage, built from one code asset and one layer."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        network: Network,
        environment: Mapping[str, str],
        layer_build_root: Path | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=layer_code(layer_build_root),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="ChatFlow runtime dependencies (layers/requirements.txt)",
        )
        code = function_code()
        self.functions: dict[str, lambda_.Function] = {}
        self.aliases: dict[str, lambda_.Alias] = {}
        for spec in FUNCTIONS:
            self.functions[spec.key] = self._function(spec, code, config, network, environment)

    def _function(
        self,
        spec: FunctionSpec,
        code: lambda_.Code,
        config: StageConfig,
        network: Network,
        environment: Mapping[str, str],
    ) -> lambda_.Function:
        name = pascal(spec.key)
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        return lambda_.Function(
            self,
            name,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=code,
            layers=[self.layer],
            memory_size=spec.memory_mb or config.function_memory_mb,
            timeout=Duration.seconds(spec.timeout_seconds),
            environment={
                **environment,
                "LOG_LEVEL": config.log_level,
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": config.log_level,
            },
            vpc=network.vpc,
            vpc_subnets=network.app_subnets,
            security_groups=[network.function_sg],
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
        )

    def grant(
        self,
        *,
        jwt_secret: secretsmanager.ISecret,
        proxy: rds.DatabaseProxy,
        table: ITableV2,
        queue: sqs.IQueue,
        connections_arn: str,
    ) -> None:
        """Give each role exactly the calls its handler makes, on concrete resources."""
        for spec in FUNCTIONS:
            fn = self.functions[spec.key]
            if Access.JWT_SECRET in spec.access:
                jwt_secret.grant_read(fn)
            if Access.DATABASE in spec.access:
                proxy.grant_connect(fn, DB_USER)
            if Access.TABLE in spec.access:
                table.grant_read_write_data(fn)
            if Access.QUEUE_SEND in spec.access:
                queue.grant_send_messages(fn)
            if Access.CONNECTIONS in spec.access:
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["execute-api:ManageConnections"], resources=[connections_arn]
                    )
                )

    def publish(self, gate: Construct) -> dict[str, lambda_.Alias]:
        """Point a ``live`` alias at each function's new version once ``gate`` is done.

        CloudFormation updates a function's code before anything else, but callers reach
        it only through the alias; making every alias depend on the migration keeps the
        new code from taking traffic until the schema it expects exists.
        """
        for spec in FUNCTIONS:
            if spec.key == "migrate":
                continue
            alias = lambda_.Alias(
                self,
                f"{pascal(spec.key)}Live",
                alias_name=LIVE_ALIAS,
                version=self.functions[spec.key].current_version,
            )
            alias.node.add_dependency(gate)
            self.aliases[spec.key] = alias
        return self.aliases


def connections_arn(stack: Stack, api_id: str, stage_name: str) -> str:
    """The @connections resources of one WebSocket stage: any connection id, any method."""
    return stack.format_arn(
        service="execute-api",
        resource=api_id,
        resource_name=f"{stage_name}/*/@connections/*",
    )
