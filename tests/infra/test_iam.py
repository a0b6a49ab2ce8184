"""Least privilege: each role allows only what its handler calls, on concrete ARNs."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from infra_cdk.names import FUNCTIONS, Access
from tests.infra.conftest import as_json, resources

XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _statements_by_handler(template: Template) -> dict[str, list[dict[str, Any]]]:
    functions = resources(template, "AWS::Lambda::Function")
    policies = resources(template, "AWS::IAM::Policy")
    found: dict[str, list[dict[str, Any]]] = {}
    for body in functions.values():
        handler = body["Properties"].get("Handler", "")
        if not handler.startswith("handlers."):
            continue
        role = body["Properties"]["Role"]["Fn::GetAtt"][0]
        found[handler] = [
            statement
            for policy in policies.values()
            if {"Ref": role} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
    return found


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def test_each_role_holds_exactly_its_access(dev: Template) -> None:
    statements = _statements_by_handler(dev)
    for spec in FUNCTIONS:
        actions = set().union(*(_actions(s) for s in statements[spec.handler]))
        assert ("execute-api:ManageConnections" in actions) == (Access.CONNECTIONS in spec.access)
        assert ("rds-db:connect" in actions) == (Access.DATABASE in spec.access)
        assert ("secretsmanager:GetSecretValue" in actions) == (Access.JWT_SECRET in spec.access)
        assert ("dynamodb:PutItem" in actions) == (Access.TABLE in spec.access)
        assert ("sqs:SendMessage" in actions) == (Access.QUEUE_SEND in spec.access)


def test_only_xray_uses_a_wildcard_resource(dev: Template) -> None:
    for handler, statements in _statements_by_handler(dev).items():
        for statement in statements:
            if "*" in _resources(statement):
                assert _actions(statement) <= XRAY, f"{handler}: {statement}"


def test_connections_are_scoped_to_this_api_and_stage(dev: Template) -> None:
    statements = _statements_by_handler(dev)["handlers.ws_frame.handler"]
    (manage,) = [s for s in statements if "execute-api:ManageConnections" in _actions(s)]
    text = as_json(manage["Resource"])
    assert "WebSocketApi" in text and "/dev/*/@connections/*" in text


def test_database_access_is_the_app_user_on_this_proxy(dev: Template) -> None:
    statements = _statements_by_handler(dev)["handlers.api.handler"]
    (connect,) = [s for s in statements if "rds-db:connect" in _actions(s)]
    text = as_json(connect["Resource"])
    assert ":dbuser:" in text and "/chatflow_app" in text and "DatabaseInstanceProxy" in text


def test_secret_table_and_queue_grants_name_their_resources(dev: Template) -> None:
    statements = _statements_by_handler(dev)["handlers.ws_frame.handler"]
    secret = [s for s in statements if "secretsmanager:GetSecretValue" in _actions(s)]
    table = [s for s in statements if "dynamodb:PutItem" in _actions(s)]
    queue = [s for s in statements if "sqs:SendMessage" in _actions(s)]
    assert "AuthJwtSecret" in as_json(secret[0]["Resource"])
    assert "ConnectionsTable" in as_json(table[0]["Resource"])
    assert "FanoutQueue" in as_json(queue[0]["Resource"])
