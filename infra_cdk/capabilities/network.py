"""The VPC: public subnets for NAT, app subnets for the functions, isolated data subnets.

Gateway (DynamoDB) and interface (SQS, Secrets Manager) endpoints keep the functions'
AWS calls off the NAT gateway. The NAT remains for one thing no VPC endpoint serves:
the API Gateway @connections management API of a public WebSocket API.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra_cdk.stages import StageConfig

APP_SUBNETS = "app"
DATA_SUBNETS = "data"


class Network(Construct):
    """VPC, flow logs, endpoints and the functions' security group."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name=APP_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name=DATA_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.app_subnets = ec2.SubnetSelection(subnet_group_name=APP_SUBNETS)
        self.data_subnets = ec2.SubnetSelection(subnet_group_name=DATA_SUBNETS)

        self.function_sg = ec2.SecurityGroup(
            self,
            "FunctionsSg",
            vpc=self.vpc,
            description="ChatFlow Lambda functions",
            allow_all_outbound=True,
        )
        self.vpc.add_gateway_endpoint(
            "DynamoDb",
            service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
            subnets=[self.app_subnets],
        )
        for name, service in (
            ("Sqs", ec2.InterfaceVpcEndpointAwsService.SQS),
            ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
        ):
            endpoint = self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.app_subnets,
                private_dns_enabled=True,
                open=False,
            )
            endpoint.connections.allow_default_port_from(self.function_sg, f"{name} from functions")
            endpoint.connections.allow_default_port_from(
                ec2.Peer.ipv4(self.vpc.vpc_cidr_block), f"{name} from the VPC (rotation)"
            )
