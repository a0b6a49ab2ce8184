"""ElastiCache Serverless (Valkey): presence, rate limits and token revocations.

Serverless caches always speak TLS and run in cluster mode; the code's keys share a
hash tag per room (docs/architecture.md, "Data model"), so multi-key Lua scripts stay on one slot.
"""

from __future__ import annotations

from aws_cdk import Fn, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from constructs import Construct

from infra_cdk.capabilities.network import DATA_SUBNETS, Network
from infra_cdk.names import REDIS_PORT
from infra_cdk.stages import StageConfig

VALKEY_MAJOR_VERSION = "8"


class Cache(Construct):
    """The serverless cache in the data subnets, reachable only from the functions."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, network: Network
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "Sg",
            vpc=network.vpc,
            description="ChatFlow Valkey (serverless)",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(
            network.function_sg, ec2.Port.tcp(REDIS_PORT), "functions to Valkey (TLS)"
        )
        subnets = network.vpc.select_subnets(subnet_group_name=DATA_SUBNETS).subnet_ids
        self.cache = elasticache.CfnServerlessCache(
            self,
            "Valkey",
            serverless_cache_name=f"chatflow-{config.name}",
            engine="valkey",
            major_engine_version=VALKEY_MAJOR_VERSION,
            description=f"ChatFlow {config.name}: presence, rate limits, revocations",
            security_group_ids=[self.security_group.security_group_id],
            subnet_ids=subnets,
            cache_usage_limits=elasticache.CfnServerlessCache.CacheUsageLimitsProperty(
                data_storage=elasticache.CfnServerlessCache.DataStorageProperty(
                    unit="GB", maximum=config.cache_max_data_gb
                ),
                ecpu_per_second=elasticache.CfnServerlessCache.ECPUPerSecondProperty(
                    maximum=config.cache_max_ecpu_per_second
                ),
            ),
            snapshot_retention_limit=config.cache_snapshot_days or None,
        )
        # A cache holds nothing durable; keep it only where the stage keeps its data.
        keep = config.removal_policy != RemovalPolicy.DESTROY
        self.cache.apply_removal_policy(RemovalPolicy.RETAIN if keep else RemovalPolicy.DESTROY)

    @property
    def url(self) -> str:
        """REDIS_URL: ``rediss://`` because serverless caches accept TLS only."""
        return Fn.join("", ["rediss://", self.cache.attr_endpoint_address, f":{REDIS_PORT}"])
