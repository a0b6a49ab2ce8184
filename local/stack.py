"""The local stack: services, the template's functions and both gateways, started and stopped.

Everything the stack runs comes from ``template_localstack.yml``: the functions with their
environment, the routes, the authorizer, the table, the queues and the schedule. The stack
only supplies the values a deploy would (parameters, and the names and URLs of the table,
queues and APIs it stands in for). Stopping (Ctrl-C, SIGTERM, ``chatflow local down``)
closes the connections, stops every worker and service and removes ``endpoints.json`` and
the pid file, so nothing keeps running and nothing stale is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from local.apigw_events import ApiInfo
from local.http11 import serve_connection
from local.http_protocol import HttpProtocol
from local.intrinsics import TemplateError
from local.keeper import ResourceKeeper
from local.layer import build_local_layer, link_sdk
from local.rest import RestGateway
from local.services import (
    EmbeddedPostgres,
    EmbeddedValkey,
    LocalDynamoDB,
    MotoDynamoDB,
    _Service,
)
from local.template import (
    DEFAULT_TEMPLATE,
    StackModel,
    build_model,
    load_template,
    transform_template,
)
from local.triggers import SqsPoller, run_schedule
from local.websocket import WebSocketGateway
from local.workers import Console, FunctionPool, Sandbox

ROOT = Path(__file__).resolve().parent.parent
STACK_NAME = "chatflow"
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
REST_API_ID = "localrest"
WS_API_ID = "localws"
PID_FILE = "stack.json"
ENDPOINTS_FILE = "endpoints.json"


@dataclass
class StackOptions:
    state_dir: Path
    http_port: int = 3000
    ws_port: int = 3001
    concurrency: int = 4
    idle_timeout: float = 600.0
    max_lifetime: float = 7200.0
    database_url: str | None = None
    redis_url: str | None = None
    aws_endpoint_url: str | None = None
    template: Path = DEFAULT_TEMPLATE
    layer_dir: Path | None = None
    stage: str = "local"
    log_level: str = "INFO"
    faults: bool = False
    isolated: bool = True
    # Set in every function's environment, over the template's (``--env NAME=VALUE``).
    environment: dict[str, str] = field(default_factory=dict)
    # Replaces the period of ``rate(...)`` schedules (``--schedule-interval``).
    schedule_interval: float | None = None
    # DynamoDB from local/dynamo (SQS still from moto), or moto for both (``--dynamodb``).
    dynamodb: str = "emulator"


@dataclass
class _Resources:
    """The physical values of the resources the stack stands in for."""

    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)


class StackError(RuntimeError):
    """The stack cannot start (a port in use, a service that does not come up...)."""


class LocalStack:
    def __init__(self, options: StackOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.services: list[_Service] = []
        self.pools: dict[str, FunctionPool] = {}
        self.servers: list[asyncio.Server] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.ws: WebSocketGateway | None = None
        self.keeper: ResourceKeeper | None = None
        self._step = 0
        self._claimed = False

    # -- public -------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.options.state_dir

    @property
    def endpoints(self) -> dict[str, str]:
        o = self.options
        return {
            "http": f"http://127.0.0.1:{o.http_port}",
            "ws": f"ws://127.0.0.1:{o.ws_port}",
            "connections": f"http://127.0.0.1:{o.ws_port}",
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, serve until ``stop`` is set, then stop everything."""
        try:
            await self.start()
            await stop.wait()
        finally:
            await self.stop()

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        _claim_pid_file(self.state_dir / PID_FILE, self.options)
        self._claimed = True
        paths = await self._sandbox_paths()
        urls = await self._services()
        template = await asyncio.to_thread(self._transform)
        self._progress("creating the table and queues, applying migrations")
        resources = await asyncio.to_thread(self._create_resources, template, urls)
        await asyncio.to_thread(self._migrate, urls["database"])
        model = self._model(template, resources, urls)
        self._start_functions(model, paths)
        await self._serve(model)
        self._start_triggers(model, resources, urls)
        self._keep_resources(template, urls)
        (self.state_dir / ENDPOINTS_FILE).write_text(json.dumps(self.endpoints, indent=2) + "\n")
        self._banner()

    async def stop(self) -> None:
        self.console.line("stopping the local stack...")
        for task in self.tasks:
            task.cancel()
        if self.ws is not None:
            await self.ws.close_all()
        for server in self.servers:
            server.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 3)
        await asyncio.gather(*(pool.close() for pool in self.pools.values()))
        for service in reversed(self.services):
            await asyncio.to_thread(service.stop)
        for name in (ENDPOINTS_FILE, PID_FILE) if self._claimed else ():
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / name).unlink()
        self.console.line("stopped.")

    # -- steps ----------------------------------------------------------------------------

    def _progress(self, text: str) -> None:
        self._step += 1
        self.console.line(f"[{self._step}/7] {text}")

    async def _sandbox_paths(self) -> tuple[str, ...]:
        code = ROOT / "functions"
        if not self.options.isolated:
            return (str(code),)
        self._progress(f"dependency layer for Python {sys.version_info[0]}.{sys.version_info[1]}")
        layer_root = self.options.layer_dir or self.state_dir / "layer"
        layer = await asyncio.to_thread(build_local_layer, layer_root)
        sdk = link_sdk(self.state_dir / "runtime-sdk")
        return (str(code), str(layer), str(sdk))

    async def _services(self) -> dict[str, str]:
        o = self.options
        self._progress("services: PostgreSQL, Valkey, DynamoDB/SQS")
        data = self.state_dir
        urls: dict[str, str] = {}
        if o.database_url:
            urls["database"] = o.database_url
        else:
            pg = EmbeddedPostgres(data / "postgres")
            await self._start_service(pg)
            urls["database"] = pg.url
        if o.redis_url:
            urls["redis"] = o.redis_url
        else:
            valkey = EmbeddedValkey(data / "valkey", persist=True)
            await self._start_service(valkey)
            urls["redis"] = valkey.url
        if o.aws_endpoint_url:
            urls["aws"] = o.aws_endpoint_url
        else:
            moto = MotoDynamoDB(data / "moto")
            await self._start_service(moto)
            urls["aws"] = await self._dynamodb_in_front_of(moto.endpoint)
        for name, url in urls.items():
            shown = url.split("@")[-1] if name == "database" else url
            self.console.line(f"      {name}: {shown}")
        return urls

    async def _dynamodb_in_front_of(self, moto: str) -> str:
        """The AWS endpoint of the functions: the DynamoDB emulator, which forwards the rest
        (SQS) to moto; or moto itself with ``--dynamodb moto``."""
        if self.options.dynamodb == "moto":
            return moto
        emulator = LocalDynamoDB(self.state_dir / "dynamodb", upstream=moto)
        await self._start_service(emulator)
        return emulator.endpoint

    async def _start_service(self, service: _Service) -> None:
        self.services.append(service)
        try:
            await asyncio.to_thread(service.start, 60.0)
        except Exception as exc:
            log = service.data_dir / f"{service.name}.log"
            raise StackError(f"{service.name} did not start ({exc}); see {log}") from exc

    def _transform(self) -> dict[str, Any]:
        self._progress(f"reading {self.options.template.name}")
        return transform_template(load_template(self.options.template), REGION)

    def _aws_client(self, service: str, url: str, quick: bool = False) -> Any:
        """A client of the emulator; ``quick`` ones give up at once instead of retrying."""
        import boto3
        from botocore.config import Config

        config = (
            Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 0})
            if quick
            else None
        )
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - emulator credentials
            config=config,
        )

    def _shape(self, template: Mapping[str, Any], urls: Mapping[str, str]) -> StackModel:
        return build_model(template, self._parameters(urls), _placeholders(template))

    def _create_resources(self, template: Mapping[str, Any], urls: Mapping[str, str]) -> _Resources:
        """Tables and queues of the template, created when absent; their names and URLs."""
        from chatflow.ws.connections import create_table

        shape = self._shape(template, urls)
        resources = _Resources()
        dynamodb = self._aws_client("dynamodb", urls["aws"])
        existing = set(dynamodb.list_tables().get("TableNames", []))
        for table in shape.tables.values():
            name = f"{STACK_NAME}-{table.logical_id}"
            if name not in existing:
                create_table(dynamodb, name)
            resources.refs[table.logical_id] = name
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
            resources.attributes[f"{table.logical_id}.Arn"] = arn
        sqs = self._aws_client("sqs", urls["aws"])
        ordered = sorted(shape.queues.values(), key=lambda q: q.dead_letter_queue is not None)
        for queue in ordered:
            name = f"{STACK_NAME}-{queue.logical_id}"
            attributes = {
                "VisibilityTimeout": str(queue.visibility_timeout),
                "MessageRetentionPeriod": str(queue.message_retention),
            }
            if queue.dead_letter_queue is not None:
                target = resources.attributes[f"{queue.dead_letter_queue}.Arn"]
                policy = {"deadLetterTargetArn": target, "maxReceiveCount": queue.max_receive_count}
                attributes["RedrivePolicy"] = json.dumps(policy)
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            resources.refs[queue.logical_id] = url
            resources.attributes[f"{queue.logical_id}.Arn"] = found["Attributes"]["QueueArn"]
            resources.attributes[f"{queue.logical_id}.QueueName"] = name
        return resources

    def _migrate(self, database_url: str) -> None:
        from chatflow.db.migrate import apply_migrations

        applied = apply_migrations(database_url)
        self.console.line(f"      migrations applied: {applied or 'none (up to date)'}")

    def _parameters(self, urls: Mapping[str, str]) -> dict[str, str]:
        return {
            "DatabaseUrl": urls["database"],
            "RedisUrl": urls["redis"],
            "JwtSecret": _jwt_secret(self.state_dir),
            "Stage": self.options.stage,
            "WsManagementEndpoint": self.endpoints["connections"],
            "AwsEndpointUrl": urls["aws"],
            "LogLevel": self.options.log_level,
        }

    def _model(
        self, template: Mapping[str, Any], resources: _Resources, urls: Mapping[str, str]
    ) -> StackModel:
        refs = {**_placeholders(template), **resources.refs}
        attributes = {**_placeholder_attributes(template), **resources.attributes}
        try:
            return build_model(template, self._parameters(urls), refs, attributes, region=REGION)
        except TemplateError as exc:
            raise StackError(f"the template cannot run locally: {exc}") from exc

    def _start_functions(self, model: StackModel, paths: tuple[str, ...]) -> None:
        self._progress(f"{len(model.functions)} functions (workers start on first use)")
        sandbox = Sandbox(
            python=sys.executable,
            paths=paths,
            environment={
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_SESSION_TOKEN": "local",
            },
            isolated=self.options.isolated,
            faults=self.options.faults,
            region=REGION,
            account_id=ACCOUNT_ID,
        )
        overrides = self.options.environment
        for name in sorted(overrides):
            self.console.line(f"      environment override: {name}")  # values may be secret
        for logical_id, declared in model.functions.items():
            environment = {**declared.environment, **overrides}
            function = replace(declared, environment=environment) if overrides else declared
            self.pools[logical_id] = FunctionPool(
                function, sandbox, self.console, self.options.concurrency
            )

    async def _serve(self, model: StackModel) -> None:
        o = self.options
        self._progress("API Gateway: REST and WebSocket")
        rest_api = ApiInfo(REST_API_ID, model.rest_stage or o.stage, f"127.0.0.1:{o.http_port}")
        ws_api = ApiInfo(WS_API_ID, model.websocket_stage or o.stage, f"127.0.0.1:{o.ws_port}")
        config = {**self.endpoints, "api": self.endpoints["http"] + "/api"}
        rest = RestGateway(model.rest_routes, self.pools, rest_api, ROOT / "web", config)
        self.ws = WebSocketGateway(
            model.websocket_routes,
            model.connect_authorizer,
            self.pools,
            ws_api,
            self.console,
            o.idle_timeout,
            o.max_lifetime,
        )
        ws = self.ws
        loop = asyncio.get_running_loop()
        starts: list[tuple[int, Callable[[], Awaitable[asyncio.Server]]]] = [
            (o.http_port, lambda: asyncio.start_server(
                partial(_connection, rest.handle, None), "127.0.0.1", o.http_port, limit=2**20
            )),
            # @connections posts (several per message sent) are answered in callbacks
            (o.ws_port, lambda: loop.create_server(
                lambda: HttpProtocol(ws.answer, ws.handle_http, ws.handle_upgrade, limit=2**20),
                "127.0.0.1", o.ws_port,
            )),
        ]  # fmt: skip
        for port, start in starts:
            try:
                server = await start()
            except OSError as exc:
                raise StackError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
            self.servers.append(server)

    def _start_triggers(
        self, model: StackModel, resources: _Resources, urls: Mapping[str, str]
    ) -> None:
        self._progress("schedules and queue pollers")
        for schedule in model.schedules:
            task = run_schedule(
                schedule, self.pools, self.console, REGION, self.options.schedule_interval
            )
            self.tasks.append(asyncio.ensure_future(task))
        sqs = self._aws_client("sqs", urls["aws"]) if model.queue_subscriptions else None
        for subscription in model.queue_subscriptions:
            poller = SqsPoller(
                subscription,
                resources.refs[subscription.queue],
                resources.attributes[f"{subscription.queue}.Arn"],
                self.pools[subscription.function],
                sqs,
                REGION,
            )
            self.tasks.append(asyncio.ensure_future(poller.run()))

    def _keep_resources(self, template: Mapping[str, Any], urls: Mapping[str, str]) -> None:
        """Re-create the table and queues whenever the emulator loses them (local/keeper.py)."""
        dynamodb = self._aws_client("dynamodb", urls["aws"], quick=True)
        tables = self._shape(template, urls).tables.values()
        names = {f"{STACK_NAME}-{table.logical_id}" for table in tables}

        def exists() -> bool:
            return names <= set(dynamodb.list_tables().get("TableNames", []))

        async def close_connections() -> int:
            if self.ws is None:
                return 0
            return self.ws.close_every(1012, "Service Restart")

        self.keeper = ResourceKeeper(
            exists, lambda: self._create_resources(template, urls), close_connections, self.console
        )
        self.tasks.append(asyncio.ensure_future(self.keeper.run()))

    def _banner(self) -> None:
        e = self.endpoints
        self.console.line("")
        self.console.line("ChatFlow is running:")
        self.console.line(f"  web page       {e['http']}/")
        self.console.line(f"  REST API       {e['http']}/api   (docs: {e['http']}/api/docs)")
        self.console.line(f"  WebSocket API  {e['ws']}")
        self.console.line(f"  @connections   {e['connections']}/@connections/{{id}}")
        self.console.line(f"Try it: curl {e['http']}/api/health   (demo data: make seed)")
        self.console.line("Ctrl-C stops everything.")


async def _connection(
    handler: Any, upgrade: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await serve_connection(reader, writer, handler, upgrade)


def _placeholders(template: Mapping[str, Any]) -> dict[str, str]:
    """A Ref value for every resource, so that the model resolves before anything exists."""
    return {logical_id: f"local-{logical_id}" for logical_id in template.get("Resources", {})}


def _placeholder_attributes(template: Mapping[str, Any]) -> dict[str, str]:
    values = {}
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type", "")
        values[f"{logical_id}.Arn"] = f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{logical_id}"
        if kind == "AWS::ApiGatewayV2::Api":
            values[f"{logical_id}.ApiEndpoint"] = "ws://127.0.0.1"
        if kind == "AWS::ApiGateway::RestApi":
            values[f"{logical_id}.RootResourceId"] = "root"
    return values


def _jwt_secret(state_dir: Path) -> str:
    """The local signing key, kept so that tokens stay valid across restarts."""
    path = state_dir / "jwt-secret"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def running_pid(state_dir: Path) -> int | None:
    """The pid of the stack that owns ``state_dir``, when one is running."""
    try:
        pid = int(json.loads((state_dir / PID_FILE).read_text())["pid"])
    except (FileNotFoundError, ValueError, KeyError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _claim_pid_file(path: Path, options: StackOptions) -> None:
    other = running_pid(path.parent)
    if other is not None and other != os.getpid():
        raise StackError(f"a stack already runs from {path.parent} (pid {other})")
    info = {
        "pid": os.getpid(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "httpPort": options.http_port,
        "wsPort": options.ws_port,
    }
    path.write_text(json.dumps(info) + "\n")


def run(options: StackOptions) -> int:
    """Run the stack in the foreground until Ctrl-C or SIGTERM; the exit status."""
    console = Console()

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stack = LocalStack(options, console)
        try:
            await stack.run(stop)
        except StackError as exc:
            console.line(f"error: {exc}")
            return 1
        return 0

    return asyncio.run(main())
