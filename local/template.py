"""Reads ``template_localstack.yml`` into the model the local stack runs from.

The SAM template is the single description of the serverless part: LocalStack deploys it and
the local stack reads it, so functions, routes, the authorizer and the environment cannot drift
apart between the two. Reading it takes three steps, all offline:

1. :func:`load_template` parses the YAML, short-form intrinsics (``!Ref``, ``!Sub``...) included;
2. :func:`transform_template` runs the SAM transform (aws-sam-translator) as CloudFormation
   would, so Globals, policies and events expand exactly as on a real deploy;
3. :func:`build_model` walks the plain CloudFormation result and resolves what matters
   locally, given parameter values and the values of the resources the local stack stands
   in for (``refs``: table name, queue URL, API ids; ``attributes``: ``"Id.Attr"`` values).

:func:`read_template` chains the three.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local.intrinsics import (
    CloudFormationLoader,
    Resolver,
    TemplateError,
    parameter_values,
    referenced_ids,
    scalar_text,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "Authorizer",
    "Function",
    "Queue",
    "QueueSubscription",
    "RestRoute",
    "Schedule",
    "StackModel",
    "Table",
    "TemplateError",
    "WebSocketRoute",
    "build_model",
    "load_template",
    "read_template",
    "transform_template",
]

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template_localstack.yml"
# Local CodeUri/ContentUri folders become keys of this bucket during the transform, which
# accepts only S3 locations, as `sam deploy` would after packaging; the model maps them back.
PACKAGE_BUCKET = "chatflow-local-package"
_INTEGRATION_TARGET = re.compile(r"^integrations/\$\{(\w+)\}$")


@dataclass(frozen=True)
class Function:
    """One Lambda function as the local runtime starts it."""

    logical_id: str
    name: str
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    code_uri: str | None
    layers: tuple[str, ...]
    # Out of repr: it holds the database password and the JWT secret.
    environment: Mapping[str, str] = field(repr=False)


@dataclass(frozen=True)
class RestRoute:
    """A REST API resource path, its methods and the function it proxies to."""

    path: str
    methods: tuple[str, ...]
    function: str

    @property
    def is_greedy(self) -> bool:
        """True for ``{proxy+}`` paths, which match everything below their parent."""
        return self.path.endswith("+}")


@dataclass(frozen=True)
class WebSocketRoute:
    """A WebSocket route key and its function; ``two_way`` if it has a route response."""

    route_key: str
    function: str
    authorization_type: str
    authorizer: str | None
    two_way: bool


@dataclass(frozen=True)
class Authorizer:
    """A REQUEST authorizer; with no identity sources it runs on every ``$connect``."""

    logical_id: str
    function: str
    identity_sources: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    logical_id: str
    name: str
    hash_key: str
    range_key: str | None
    attribute_types: Mapping[str, str]
    ttl_attribute: str | None


@dataclass(frozen=True)
class Queue:
    logical_id: str
    visibility_timeout: int
    message_retention: int
    dead_letter_queue: str | None
    max_receive_count: int | None


@dataclass(frozen=True)
class QueueSubscription:
    """An SQS event source mapping: which function drains which queue, and how."""

    queue: str
    function: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class Schedule:
    logical_id: str
    expression: str
    functions: tuple[str, ...]
    enabled: bool


@dataclass(frozen=True)
class StackModel:
    """Everything the local stack needs to know about the serverless part."""

    functions: Mapping[str, Function]
    rest_routes: tuple[RestRoute, ...]
    rest_stage: str | None
    websocket_routes: Mapping[str, WebSocketRoute]
    websocket_stage: str | None
    authorizers: Mapping[str, Authorizer]
    tables: Mapping[str, Table]
    queues: Mapping[str, Queue]
    queue_subscriptions: tuple[QueueSubscription, ...]
    schedules: tuple[Schedule, ...]

    def function(self, logical_id: str) -> Function:
        try:
            return self.functions[logical_id]
        except KeyError:
            raise TemplateError(f"the template has no function {logical_id!r}") from None

    @property
    def connect_authorizer(self) -> Authorizer | None:
        """The authorizer of the ``$connect`` route, if it has one."""
        route = self.websocket_routes.get("$connect")
        if route is None or route.authorizer is None:
            return None
        return self.authorizers[route.authorizer]


def load_template(path: Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML template into plain JSON-shaped data."""
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506 (a SafeLoader)
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return document


def transform_template(template: Mapping[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """Expand the SAM resources into plain CloudFormation, as the deploy would.

    No AWS call is made: the session only carries the region, and the managed-policy map is
    empty (the template names no managed policy by its short name).
    """
    import boto3
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

    sam = copy.deepcopy(dict(template))
    _point_local_code_at_package_bucket(sam)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    result: dict[str, Any] = translator.translate(sam, {}, get_managed_policy_map=dict)
    return result


def _point_local_code_at_package_bucket(sam: dict[str, Any]) -> None:
    def package(properties: dict[str, Any], key: str) -> None:
        uri = properties.get(key)
        if isinstance(uri, str) and not uri.startswith("s3://"):
            properties[key] = f"s3://{PACKAGE_BUCKET}/{uri}"

    package(sam.get("Globals", {}).get("Function", {}), "CodeUri")
    for resource in sam["Resources"].values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            package(properties, "CodeUri")
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            package(properties, "ContentUri")


def read_template(
    parameters: Mapping[str, str],
    refs: Mapping[str, str],
    attributes: Mapping[str, str] | None = None,
    *,
    path: Path = DEFAULT_TEMPLATE,
    region: str = "us-east-1",
    stack_name: str = "chatflow",
) -> StackModel:
    """Load, transform and model the template in one call."""
    transformed = transform_template(load_template(path), region)
    return build_model(
        transformed, parameters, refs, attributes, region=region, stack_name=stack_name
    )


def build_model(
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    refs: Mapping[str, str],
    attributes: Mapping[str, str] | None = None,
    *,
    region: str = "us-east-1",
    stack_name: str = "chatflow",
    account_id: str = "000000000000",
) -> StackModel:
    """Model a transformed (plain CloudFormation) template.

    Only resources whose values the model needs must be in ``refs``/``attributes``; a missing
    one is an error naming it.
    """
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
    }
    resolver = Resolver(
        parameters=parameter_values(template, parameters, pseudo),
        refs=refs,
        attributes=attributes or {},
        conditions=template.get("Conditions", {}),
        mappings=template.get("Mappings", {}),
    )
    resources = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }
    return _ModelBuilder(resources, resolver).build()


class _ModelBuilder:
    def __init__(self, resources: Mapping[str, Any], resolver: Resolver) -> None:
        self.resources = resources
        self.resolver = resolver
        self.function_ids = set(self.of_type("AWS::Lambda::Function"))

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == kind
        }

    def function_in(self, value: Any, where: str) -> str:
        found = referenced_ids(value) & self.function_ids
        if len(found) != 1:
            raise TemplateError(f"{where} does not point at exactly one function")
        return found.pop()

    def build(self) -> StackModel:
        return StackModel(
            functions=self.functions(),
            rest_routes=self.rest_routes(),
            rest_stage=self.stage("AWS::ApiGateway::Stage"),
            websocket_routes=self.websocket_routes(),
            websocket_stage=self.stage("AWS::ApiGatewayV2::Stage"),
            authorizers=self.authorizers(),
            tables=self.tables(),
            queues=self.queues(),
            queue_subscriptions=self.queue_subscriptions(),
            schedules=self.schedules(),
        )

    def functions(self) -> dict[str, Function]:
        layers = {
            logical_id: _package_key(props.get("Content", {}), "S3Key")
            for logical_id, props in self.of_type("AWS::Lambda::LayerVersion").items()
        }
        functions = {}
        for logical_id, props in self.of_type("AWS::Lambda::Function").items():
            variables = props.get("Environment", {}).get("Variables", {})
            environment = {
                name: scalar_text(self.resolver.resolve(value), f"{logical_id} {name}")
                for name, value in variables.items()
            }
            layer_ids = sorted(referenced_ids(props.get("Layers", [])) & set(layers))
            functions[logical_id] = Function(
                logical_id=logical_id,
                name=str(self.resolver.resolve(props.get("FunctionName", logical_id))),
                handler=props["Handler"],
                runtime=props.get("Runtime", ""),
                timeout=int(props.get("Timeout", 3)),
                memory_size=int(props.get("MemorySize", 128)),
                code_uri=_package_key(props.get("Code", {}), "S3Key"),
                layers=tuple(key for key in (layers[i] for i in layer_ids) if key is not None),
                environment=environment,
            )
        return functions

    def rest_routes(self) -> tuple[RestRoute, ...]:
        parts = self.of_type("AWS::ApiGateway::Resource")

        def path_of(resource: Any) -> str:
            if isinstance(resource, dict) and "Fn::GetAtt" in resource:
                return ""  # the API's root resource
            (parent_id,) = referenced_ids(resource)
            props = parts[parent_id]
            return path_of(props["ParentId"]) + "/" + str(props["PathPart"])

        by_path: dict[tuple[str, str], list[str]] = {}
        for logical_id, props in self.of_type("AWS::ApiGateway::Method").items():
            integration = props.get("Integration", {})
            function = self.function_in(integration.get("Uri"), f"method {logical_id}")
            key = (path_of(props["ResourceId"]) or "/", function)
            by_path.setdefault(key, []).append(str(props["HttpMethod"]).upper())
        return tuple(
            RestRoute(path=path, methods=tuple(sorted(methods)), function=function)
            for (path, function), methods in sorted(by_path.items())
        )

    def websocket_routes(self) -> dict[str, WebSocketRoute]:
        integrations = self.of_type("AWS::ApiGatewayV2::Integration")
        two_way = {
            route_id
            for props in self.of_type("AWS::ApiGatewayV2::RouteResponse").values()
            for route_id in referenced_ids(props.get("RouteId"))
        }
        routes = {}
        for logical_id, props in self.of_type("AWS::ApiGatewayV2::Route").items():
            integration_id = _integration_id(props.get("Target"), logical_id)
            uri = integrations[integration_id].get("IntegrationUri")
            authorizer = referenced_ids(props.get("AuthorizerId"))
            routes[props["RouteKey"]] = WebSocketRoute(
                route_key=props["RouteKey"],
                function=self.function_in(uri, f"integration {integration_id}"),
                authorization_type=props.get("AuthorizationType", "NONE"),
                authorizer=authorizer.pop() if authorizer else None,
                two_way=logical_id in two_way,
            )
        return routes

    def authorizers(self) -> dict[str, Authorizer]:
        return {
            logical_id: Authorizer(
                logical_id=logical_id,
                function=self.function_in(props.get("AuthorizerUri"), f"authorizer {logical_id}"),
                identity_sources=tuple(props.get("IdentitySource", ())),
            )
            for logical_id, props in self.of_type("AWS::ApiGatewayV2::Authorizer").items()
        }

    def stage(self, kind: str) -> str | None:
        names = [self.resolver.resolve(p["StageName"]) for p in self.of_type(kind).values()]
        return str(names[0]) if names else None

    def tables(self) -> dict[str, Table]:
        tables = {}
        for logical_id, props in self.of_type("AWS::DynamoDB::Table").items():
            keys = {key["KeyType"]: key["AttributeName"] for key in props["KeySchema"]}
            ttl = props.get("TimeToLiveSpecification", {})
            name = props.get("TableName", self.resolver.refs.get(logical_id, logical_id))
            tables[logical_id] = Table(
                logical_id=logical_id,
                name=str(self.resolver.resolve(name)),
                hash_key=keys["HASH"],
                range_key=keys.get("RANGE"),
                attribute_types={
                    item["AttributeName"]: item["AttributeType"]
                    for item in props.get("AttributeDefinitions", [])
                },
                ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
            )
        return tables

    def queues(self) -> dict[str, Queue]:
        queues = {}
        for logical_id, props in self.of_type("AWS::SQS::Queue").items():
            redrive = props.get("RedrivePolicy", {})
            dead_letter = referenced_ids(redrive.get("deadLetterTargetArn"))
            queues[logical_id] = Queue(
                logical_id=logical_id,
                visibility_timeout=int(props.get("VisibilityTimeout", 30)),
                message_retention=int(props.get("MessageRetentionPeriod", 345600)),
                dead_letter_queue=dead_letter.pop() if dead_letter else None,
                max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
            )
        return queues

    def queue_subscriptions(self) -> tuple[QueueSubscription, ...]:
        queue_ids = set(self.of_type("AWS::SQS::Queue"))
        subscriptions = []
        for logical_id, props in self.of_type("AWS::Lambda::EventSourceMapping").items():
            queues = referenced_ids(props.get("EventSourceArn")) & queue_ids
            if not queues:
                continue  # a stream or another source the local stack does not run
            subscriptions.append(
                QueueSubscription(
                    queue=queues.pop(),
                    function=self.function_in(props.get("FunctionName"), logical_id),
                    batch_size=int(props.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in props.get("FunctionResponseTypes", []),
                )
            )
        return tuple(subscriptions)

    def schedules(self) -> tuple[Schedule, ...]:
        return tuple(
            Schedule(
                logical_id=logical_id,
                expression=str(self.resolver.resolve(props["ScheduleExpression"])),
                functions=tuple(
                    sorted(referenced_ids(props.get("Targets", [])) & self.function_ids)
                ),
                enabled=props.get("State", "ENABLED") == "ENABLED",
            )
            for logical_id, props in self.of_type("AWS::Events::Rule").items()
            if "ScheduleExpression" in props
        )


def _package_key(location: Mapping[str, Any], key: str) -> str | None:
    """The local folder a packaged S3 location stands for, or None for real S3 code."""
    if location.get("S3Bucket") != PACKAGE_BUCKET:
        return None
    return str(location[key])


def _integration_id(target: Any, route: str) -> str:
    text = target.get("Fn::Sub") if isinstance(target, dict) else None
    match = _INTEGRATION_TARGET.match(text) if isinstance(text, str) else None
    if match is None:
        ids = referenced_ids(target)
        if len(ids) != 1:
            raise TemplateError(f"route {route} has no integrations/<id> target")
        return ids.pop()
    return match.group(1)
