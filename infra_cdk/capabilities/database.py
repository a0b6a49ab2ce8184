"""PostgreSQL on RDS behind RDS Proxy with IAM authentication.

The functions never hold a database password: they sign an IAM token
(``rds.generate_db_auth_token``) and RDS Proxy, which pools connections across
thousands of short-lived Lambda environments, logs in to PostgreSQL with the
credentials it reads from Secrets Manager. Those credentials rotate on a schedule;
the proxy picks the new password up by itself.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from constructs import Construct

from infra_cdk.capabilities.network import Network
from infra_cdk.names import DB_NAME, DB_PORT, DB_USER
from infra_cdk.stages import StageConfig


class Database(Construct):
    """The instance, its rotated secret and the proxy the functions connect to."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, network: Network
    ) -> None:
        super().__init__(scope, construct_id)
        # A full minor version: cfn-lint (rightly) rejects the bare major "17" as an engine
        # version for new instances; auto_minor_version_upgrade keeps it patched.
        engine = rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_9)
        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "500"},
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=engine,
            instance_type=ec2.InstanceType(config.db_instance_type),
            vpc=network.vpc,
            vpc_subnets=network.data_subnets,
            credentials=rds.Credentials.from_generated_secret(DB_USER),
            database_name=DB_NAME,
            port=DB_PORT,
            parameter_group=parameters,
            multi_az=config.db_multi_az,
            allocated_storage=config.db_storage_gib,
            max_allocated_storage=config.db_max_storage_gib,
            storage_type=rds.StorageType.GP3,
            storage_encrypted=True,
            backup_retention=Duration.days(config.db_backup_days),
            deletion_protection=config.db_deletion_protection,
            removal_policy=config.db_removal_policy,
            cloudwatch_logs_exports=["postgresql"],
            cloudwatch_logs_retention=config.log_retention,
            auto_minor_version_upgrade=True,
        )
        secret = self.instance.secret
        assert secret is not None  # from_generated_secret always makes one
        self.secret = secret
        self.instance.add_rotation_single_user(
            automatically_after=Duration.days(30), vpc_subnets=network.app_subnets
        )
        self.proxy = self.instance.add_proxy(
            "Proxy",
            secrets=[secret],
            vpc=network.vpc,
            vpc_subnets=network.data_subnets,
            iam_auth=True,
            require_tls=True,
            debug_logging=False,
        )
        for peer in self.proxy.connections.security_groups:
            self.instance.connections.allow_default_port_from(peer, "RDS Proxy to PostgreSQL")
        self.proxy.connections.allow_from(
            network.function_sg, ec2.Port.tcp(DB_PORT), "functions to RDS Proxy"
        )

    @property
    def url(self) -> str:
        """DATABASE_URL: no password, the code signs an IAM token (DATABASE_IAM_AUTH=true)."""
        return f"postgresql://{DB_USER}@{self.proxy.endpoint}:{DB_PORT}/{DB_NAME}?sslmode=require"
