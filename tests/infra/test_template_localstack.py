"""template_localstack.yml: valid for cfn-lint, translatable by SAM, shaped as documented.

The shape is the one docs/architecture.md ("The three runtimes") and README.md ("Run on
LocalStack") describe.

The assertions run on the translated template, which is what CloudFormation (or LocalStack)
deploys: Globals merged into every function, events expanded into rules and mappings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint  # type: ignore[import-untyped]
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

from local.template import DEFAULT_TEMPLATE, load_template, transform_template

pytestmark = pytest.mark.unit

HANDLERS = {
    "Api": "handlers.api.handler",
    "Migrate": "handlers.migrate.handler",
    "WsAuthorizer": "handlers.ws_authorizer.handler",
    "WsConnect": "handlers.ws_connect.handler",
    "WsFrame": "handlers.ws_frame.handler",
    "WsDisconnect": "handlers.ws_disconnect.handler",
    "PresenceSweeper": "handlers.presence_sweeper.handler",
    "FanoutWorker": "handlers.fanout_worker.handler",
}
ENVIRONMENT = {
    "DATABASE_URL",
    "REDIS_URL",
    "JWT_SECRET",
    "CONNECTIONS_TABLE",
    "WS_MANAGEMENT_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "FANOUT_QUEUE_URL",
    "FANOUT_INLINE_MAX",
    "PRESENCE_TTL_SECONDS",
    "JWT_TTL_SECONDS",
    "LOG_LEVEL",
}


class _NoManagedPolicies:
    """The managed-policy loader of an offline transform: no IAM call, no names to map."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return transform_template(load_template(DEFAULT_TEMPLATE))


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def _mentions(value: Any, logical_id: str) -> bool:
    """Whether a (possibly intrinsic) value references the logical id."""
    text = json.dumps(value)
    return f'"{logical_id}"' in text or f"${{{logical_id}." in text or f"${{{logical_id}}}" in text


def test_cfn_lint_reports_no_error_or_warning() -> None:
    matches = lint(DEFAULT_TEMPLATE.read_text(encoding="utf-8"))
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_sam_transform_succeeds_as_documented_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    sam = load_template(DEFAULT_TEMPLATE)
    # Packaged as `sam deploy` would: the translator accepts only S3 code locations.
    sam["Globals"]["Function"]["CodeUri"] = "s3://bucket/functions.zip"
    sam["Resources"]["DependenciesLayer"]["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    result = transform(sam, {}, _NoManagedPolicies())
    assert "Transform" not in result
    assert not [r for r in result["Resources"].values() if r["Type"].startswith("AWS::Serverless")]


def test_local_code_paths_are_the_repository_folders() -> None:
    sam = load_template(DEFAULT_TEMPLATE)
    root = Path(DEFAULT_TEMPLATE).parent
    assert sam["Globals"]["Function"]["CodeUri"] == "functions/"
    assert (root / "functions" / "handlers").is_dir()
    layer = sam["Resources"]["DependenciesLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/build/x86_64-py3.12/"


def test_every_function_has_its_handler(translated: dict[str, Any]) -> None:
    functions = _of_type(translated, "AWS::Lambda::Function")
    assert {lid: props["Handler"] for lid, props in functions.items()} == HANDLERS
    for props in functions.values():
        assert props["Runtime"] == "python3.12"
        assert len(props["Layers"]) == 1


def test_every_function_gets_the_whole_environment(translated: dict[str, Any]) -> None:
    for logical_id, props in _of_type(translated, "AWS::Lambda::Function").items():
        variables = props["Environment"]["Variables"]
        assert set(variables) == ENVIRONMENT, logical_id
        assert variables["JWT_SECRET"] == {"Ref": "JwtSecret"}
        assert variables["CONNECTIONS_TABLE"] == {"Ref": "ConnectionsTable"}
        assert variables["FANOUT_QUEUE_URL"] == {"Ref": "FanoutQueue"}


def test_secrets_are_no_echo_and_the_jwt_secret_is_long(translated: dict[str, Any]) -> None:
    parameters = translated["Parameters"]
    assert parameters["JwtSecret"]["NoEcho"] is True
    assert parameters["JwtSecret"]["MinLength"] == 32
    assert parameters["DatabaseUrl"]["NoEcho"] is True
    assert parameters["Stage"]["Default"] == "local"


def test_connection_table_is_on_demand_with_ttl(translated: dict[str, Any]) -> None:
    table = translated["Resources"]["ConnectionsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_rest_api_proxies_api_and_everything_below_it(translated: dict[str, Any]) -> None:
    resources = _of_type(translated, "AWS::ApiGateway::Resource")
    api = resources["RestApiResource"]
    assert api["PathPart"] == "api"
    assert api["ParentId"] == {"Fn::GetAtt": ["RestApi", "RootResourceId"]}
    assert resources["RestApiProxyResource"]["PathPart"] == "{proxy+}"
    assert resources["RestApiProxyResource"]["ParentId"] == {"Ref": "RestApiResource"}
    methods = _of_type(translated, "AWS::ApiGateway::Method")
    assert {m["ResourceId"]["Ref"] for m in methods.values()} == set(resources)
    for method in methods.values():
        assert method["HttpMethod"] == "ANY"
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert _mentions(method["Integration"]["Uri"], "Api")
    permission = translated["Resources"]["ApiInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "Api"}


def test_websocket_routes_reach_their_functions(translated: dict[str, Any]) -> None:
    api = translated["Resources"]["WebSocketApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    integrations = _of_type(translated, "AWS::ApiGatewayV2::Integration")
    routes = _of_type(translated, "AWS::ApiGatewayV2::Route")
    expected = {"$connect": "WsConnect", "$default": "WsFrame", "$disconnect": "WsDisconnect"}
    assert {r["RouteKey"] for r in routes.values()} == set(expected)
    for route in routes.values():
        target = route["Target"]["Fn::Sub"].removeprefix("integrations/${").removesuffix("}")
        integration = integrations[target]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert _mentions(integration["IntegrationUri"], expected[route["RouteKey"]])
    # No route response: the $connect headers (Sec-WebSocket-Protocol) pass without one.
    assert _of_type(translated, "AWS::ApiGatewayV2::RouteResponse") == {}


def test_only_connect_is_authorized_by_the_request_authorizer(translated: dict[str, Any]) -> None:
    ((authorizer_id, authorizer),) = _of_type(translated, "AWS::ApiGatewayV2::Authorizer").items()
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert _mentions(authorizer["AuthorizerUri"], "WsAuthorizer")
    # Clients may connect without credentials and authenticate in the STOMP CONNECT frame.
    assert "IdentitySource" not in authorizer
    routes = {r["RouteKey"]: r for r in _of_type(translated, "AWS::ApiGatewayV2::Route").values()}
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert routes["$connect"]["AuthorizerId"] == {"Ref": authorizer_id}
    assert routes["$default"]["AuthorizationType"] == "NONE"
    permissions = _of_type(translated, "AWS::Lambda::Permission").values()
    invoked = {json.dumps(p["FunctionName"]) for p in permissions}
    for function in ("WsAuthorizer", "WsConnect", "WsFrame", "WsDisconnect"):
        assert json.dumps({"Ref": function}) in invoked


def test_websocket_stage_is_deployed_after_every_route(translated: dict[str, Any]) -> None:
    deployment = translated["Resources"]["WebSocketDeployment"]
    assert set(deployment["DependsOn"]) == {"WsConnectRoute", "WsDefaultRoute", "WsDisconnectRoute"}
    stage = translated["Resources"]["WebSocketStage"]["Properties"]
    assert stage["StageName"] == {"Ref": "Stage"}
    assert stage["DeploymentId"] == {"Ref": "WebSocketDeployment"}


def test_sweeper_runs_every_minute(translated: dict[str, Any]) -> None:
    rules = _of_type(translated, "AWS::Events::Rule")
    (rule,) = rules.values()
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["State"] == "ENABLED"
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["PresenceSweeper", "Arn"]}


def test_fanout_worker_drains_the_queue_in_batches(translated: dict[str, Any]) -> None:
    (mapping,) = _of_type(translated, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["FanoutQueue", "Arn"]}
    assert mapping["FunctionName"] == {"Ref": "FanoutWorker"}
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = translated["Resources"]["FanoutQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["FanoutDeadLetterQueue", "Arn"]
    }
    worker_timeout = translated["Resources"]["FanoutWorker"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * worker_timeout


def _role_statements(translated: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = translated["Resources"][f"{function}Role"]["Properties"]
    return [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def _allows(statements: list[dict[str, Any]], action: str) -> bool:
    def actions(statement: dict[str, Any]) -> list[str]:
        value = statement["Action"]
        return [value] if isinstance(value, str) else list(value)

    return any(
        a == action or (a.endswith("*") and action.startswith(a[:-1]))
        for s in statements
        for a in actions(s)
    )


@pytest.mark.parametrize(
    ("function", "allowed", "denied"),
    [
        ("Api", ["sqs:SendMessage", "execute-api:ManageConnections", "dynamodb:Query"], []),
        ("WsFrame", ["sqs:SendMessage", "execute-api:ManageConnections", "dynamodb:Query"], []),
        ("FanoutWorker", ["sqs:DeleteMessage", "execute-api:ManageConnections"], []),
        ("WsConnect", ["dynamodb:PutItem"], ["execute-api:ManageConnections"]),
        ("Migrate", [], ["dynamodb:PutItem", "sqs:SendMessage"]),
        ("WsAuthorizer", [], ["dynamodb:PutItem", "execute-api:ManageConnections"]),
    ],
)
def test_iam_policies_grant_what_each_function_needs(
    translated: dict[str, Any], function: str, allowed: list[str], denied: list[str]
) -> None:
    statements = _role_statements(translated, function)
    assert [a for a in allowed if not _allows(statements, a)] == []
    assert [d for d in denied if _allows(statements, d)] == []


def test_manage_connections_is_scoped_to_this_api(translated: dict[str, Any]) -> None:
    statements = _role_statements(translated, "WsFrame")
    (manage,) = [s for s in statements if s["Action"] == "execute-api:ManageConnections"]
    assert manage["Resource"]["Fn::Sub"].endswith("${WebSocketApi}/${Stage}/*/@connections/*")


def test_outputs_name_the_endpoints(translated: dict[str, Any]) -> None:
    outputs = translated["Outputs"]
    for name in ("RestApiUrl", "WebSocketUrl", "ConnectionsEndpoint", "ConnectionsTableName"):
        assert name in outputs
    assert outputs["RestApiUrl"]["Value"]["Fn::Sub"].endswith("/${Stage}/api")
    assert outputs["WebSocketUrl"]["Value"] == {"Fn::Sub": "${WebSocketApi.ApiEndpoint}/${Stage}"}
