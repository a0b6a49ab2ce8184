"""The WebSocket API: $connect (REQUEST authorizer), $default (STOMP frames), $disconnect.

Built in two steps because the functions need the API id (WS_MANAGEMENT_ENDPOINT) before
the routes can point at the functions' aliases: ``WebSocketEndpoint`` makes the API,
``add_routes`` wires routes, authorizer and the throttled, access-logged stage.

The authorizer has no identity source on purpose (docs/adr/0006-websocket-authorizer.md):
with one, API Gateway answers 401 itself to every connection that lacks it, and STOMP
clients that authenticate in the CONNECT frame send neither a ticket nor a header.
"""

from __future__ import annotations

import json

from aws_cdk import Aws
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra_cdk.stages import StageConfig

#: One access-log line per connect, frame and disconnect (no payloads, no tokens).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "connectionId": "$context.connectionId",
    "routeKey": "$context.routeKey",
    "eventType": "$context.eventType",
    "status": "$context.status",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTimeEpoch",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "authorizerError": "$context.authorizer.error",
    "error": "$context.error.message",
    "disconnectStatusCode": "$context.disconnectStatusCode",
}


class WebSocketEndpoint(Construct):
    """The API first, routes and stage once the functions exist."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.stage_name = config.name
        self.api = apigwv2.WebSocketApi(
            self,
            "Api",
            api_name=f"chatflow-{config.name}-ws",
            description="ChatFlow STOMP 1.2 over WebSocket",
        )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        self.stage: apigwv2.WebSocketStage | None = None

    @property
    def management_endpoint(self) -> str:
        """WS_MANAGEMENT_ENDPOINT: the @connections API of this stage."""
        return (
            f"https://{self.api.api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/{self.stage_name}"
        )

    @property
    def origin(self) -> str:
        """``wss://{apiId}.execute-api.{region}.amazonaws.com``: the page's CSP connect-src."""
        return f"wss://{self.api.api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"

    @property
    def url(self) -> str:
        """What clients open: ``wss://{apiId}.execute-api.{region}.amazonaws.com/{stage}``."""
        return (
            f"wss://{self.api.api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/{self.stage_name}"
        )

    def add_routes(
        self,
        *,
        authorizer: lambda_.IFunction,
        connect: lambda_.IFunction,
        frame: lambda_.IFunction,
        disconnect: lambda_.IFunction,
        gate: Construct,
    ) -> apigwv2.WebSocketStage:
        """Routes to the aliases, then the stage, which goes live only after ``gate``."""
        self.api.add_route(
            "$connect",
            integration=integrations.WebSocketLambdaIntegration("Connect", connect),
            authorizer=authorizers.WebSocketLambdaAuthorizer(
                "Authorizer", authorizer, identity_source=[]
            ),
        )
        # No identity source at all (not an empty list): API Gateway then invokes the
        # authorizer for every $connect, with or without ?ticket= or Authorization.
        cfn_authorizer = self.api.node.find_child("Authorizer").node.default_child
        assert isinstance(cfn_authorizer, apigwv2.CfnAuthorizer)
        cfn_authorizer.add_property_deletion_override("IdentitySource")
        self.api.add_route(
            "$default", integration=integrations.WebSocketLambdaIntegration("Frame", frame)
        )
        self.api.add_route(
            "$disconnect",
            integration=integrations.WebSocketLambdaIntegration("Disconnect", disconnect),
        )
        stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=self.stage_name,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=self.config.ws_rate_limit, burst_limit=self.config.ws_burst_limit
            ),
        )
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn,
            format=json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":")),
        )
        stage.node.add_dependency(gate)
        self.stage = stage
        return stage
