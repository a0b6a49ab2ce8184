"""One ChatFlow stage as one stack: the capabilities wired as docs/architecture.md draws them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from infra_cdk.capabilities.auth_secret import AuthSecret
from infra_cdk.capabilities.cache import Cache
from infra_cdk.capabilities.connection_table import ConnectionTable
from infra_cdk.capabilities.database import Database
from infra_cdk.capabilities.fanout import FanoutQueue
from infra_cdk.capabilities.functions import Functions, connections_arn
from infra_cdk.capabilities.migration import Migration
from infra_cdk.capabilities.monitoring import Monitoring
from infra_cdk.capabilities.network import Network
from infra_cdk.capabilities.rest_api import RestApi
from infra_cdk.capabilities.sweeper import SweeperSchedule
from infra_cdk.capabilities.web import WebHosting
from infra_cdk.capabilities.websocket_api import WebSocketEndpoint
from infra_cdk.nag import suppress_stack_findings
from infra_cdk.names import FUNCTIONS_BY_KEY
from infra_cdk.stages import StageConfig

FANOUT_BATCH_SIZE = 10


class ChatFlowStack(Stack):
    """Network, data stores, functions, both APIs, fan-out, schedule, web, monitoring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        layer_build_root: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description=f"ChatFlow real-time chat ({config.name})", **kwargs
        )
        self.config = config
        network = Network(self, "Network", config=config)
        database = Database(self, "Database", config=config, network=network)
        cache = Cache(self, "Cache", config=config, network=network)
        table = ConnectionTable(self, "Connections", config=config)
        auth = AuthSecret(self, "Auth", config=config)
        websocket = WebSocketEndpoint(self, "WebSocket", config=config)
        worker = FUNCTIONS_BY_KEY["fanout_worker"]
        fanout = FanoutQueue(
            self,
            "Fanout",
            config=config,
            worker_timeout=Duration.seconds(worker.timeout_seconds),
        )

        functions = Functions(
            self,
            "Functions",
            config=config,
            network=network,
            layer_build_root=layer_build_root,
            environment={
                "DATABASE_URL": database.url,
                "DATABASE_IAM_AUTH": "true",
                "REDIS_URL": cache.url,
                "REDIS_CLUSTER": "true",  # ElastiCache Serverless is cluster-mode only
                "CONNECTIONS_TABLE": table.table.table_name,
                "WS_MANAGEMENT_ENDPOINT": websocket.management_endpoint,
                "JWT_SECRET_ARN": auth.secret.secret_arn,
                "JWT_TTL_SECONDS": str(config.jwt_ttl_seconds),
                "PRESENCE_TTL_SECONDS": str(config.presence_ttl_seconds),
                "FANOUT_INLINE_MAX": str(config.fanout_inline_max),
                "FANOUT_QUEUE_URL": fanout.queue.queue_url,
            },
        )
        functions.grant(
            jwt_secret=auth.secret,
            proxy=database.proxy,
            table=table.table,
            queue=fanout.queue,
            connections_arn=connections_arn(self, websocket.api.api_id, websocket.stage_name),
        )
        migration = Migration(
            self, "Migration", config=config, migrate=functions.functions["migrate"]
        )
        live = functions.publish(migration.resource)

        websocket.add_routes(
            authorizer=live["ws_authorizer"],
            connect=live["ws_connect"],
            frame=live["ws_frame"],
            disconnect=live["ws_disconnect"],
            gate=migration.resource,
        )
        live["fanout_worker"].add_event_source(
            event_sources.SqsEventSource(
                fanout.queue, batch_size=FANOUT_BATCH_SIZE, report_batch_item_failures=True
            )
        )
        SweeperSchedule(self, "Sweeper", sweeper=live["presence_sweeper"])
        rest = RestApi(self, "Rest", config=config, handler=live["api"], gate=migration.resource)

        http_origin = f"https://{rest.api.rest_api_id}.execute-api.{self.region}.{self.url_suffix}"
        http_url = f"{http_origin}/{rest.api.deployment_stage.stage_name}"
        web = WebHosting(
            self,
            "Web",
            config=config,
            http_url=http_url,
            ws_url=websocket.url,
            connect_to=[http_origin, websocket.origin],
        )
        # The page (CloudFront) calls the REST API on its own origin: allow exactly that one.
        functions.functions["api"].add_environment("CORS_ALLOW_ORIGINS", web.url)
        Monitoring(
            self,
            "Monitoring",
            config=config,
            functions=functions.functions,
            rest_api=rest.api,
            ws_api_id=websocket.api.api_id,
            ws_stage=websocket.stage_name,
            queue=fanout.queue,
            dlq=fanout.dlq,
        )

        self.rest_url_output = CfnOutput(
            self, "RestUrl", value=http_url, description="REST API base URL (append /api/...)"
        )
        self.ws_url_output = CfnOutput(
            self, "WebSocketUrl", value=websocket.url, description="WebSocket API URL (wss://)"
        )
        self.web_url_output = CfnOutput(
            self, "WebUrl", value=web.url, description="Web client (CloudFront)"
        )

        suppress_stack_findings(self, config)
