"""REST and WebSocket APIs: routes, authorizer, throttling, access logs, WAF."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from tests.infra.conftest import as_json, resources


def _route_target(template: Template, route_key: str) -> str:
    routes = resources(template, "AWS::ApiGatewayV2::Route")
    (route,) = [r for r in routes.values() if r["Properties"]["RouteKey"] == route_key]
    integration_id = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
    integration = resources(template, "AWS::ApiGatewayV2::Integration")[integration_id]
    return as_json(integration["Properties"]["IntegrationUri"])


def test_websocket_routes_point_at_the_live_aliases(dev: Template) -> None:
    aliases = resources(dev, "AWS::Lambda::Alias")
    functions = {
        logical: body["Properties"]["Handler"]
        for logical, body in resources(dev, "AWS::Lambda::Function").items()
        if "Handler" in body["Properties"]
    }
    expected = {
        "$connect": "handlers.ws_connect.handler",
        "$default": "handlers.ws_frame.handler",
        "$disconnect": "handlers.ws_disconnect.handler",
    }
    for route_key, handler in expected.items():
        target = _route_target(dev, route_key)
        (alias,) = [logical for logical in aliases if logical in target]
        fn_ref = aliases[alias]["Properties"]["FunctionName"]["Ref"]
        assert functions[fn_ref] == handler


def test_connect_uses_a_request_authorizer_without_identity_source(dev: Template) -> None:
    authorizers = resources(dev, "AWS::ApiGatewayV2::Authorizer")
    assert len(authorizers) == 1
    (logical, authorizer) = next(iter(authorizers.items()))
    assert authorizer["Properties"]["AuthorizerType"] == "REQUEST"
    assert "IdentitySource" not in authorizer["Properties"]
    assert "WsAuthorizerLive" in as_json(authorizer["Properties"]["AuthorizerUri"])
    dev.has_resource_properties(
        "AWS::ApiGatewayV2::Route",
        {"RouteKey": "$connect", "AuthorizationType": "CUSTOM", "AuthorizerId": {"Ref": logical}},
    )
    for key in ("$default", "$disconnect"):
        dev.has_resource_properties(
            "AWS::ApiGatewayV2::Route", {"RouteKey": key, "AuthorizationType": "NONE"}
        )


def test_websocket_stage_is_throttled_and_logged(dev: Template, prod: Template) -> None:
    for template, rate in ((dev, 50), (prod, 2000)):
        template.has_resource_properties(
            "AWS::ApiGatewayV2::Stage",
            {
                "DefaultRouteSettings": Match.object_like({"ThrottlingRateLimit": rate}),
                "AccessLogSettings": {
                    "DestinationArn": Match.any_value(),
                    "Format": Match.string_like_regexp(r"connectionId.*routeKey"),
                },
            },
        )


def test_rest_api_proxies_everything_to_the_api_function(dev: Template) -> None:
    methods = resources(dev, "AWS::ApiGateway::Method")
    assert {m["Properties"]["HttpMethod"] for m in methods.values()} == {"ANY"}
    dev.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "{proxy+}"})
    for method in methods.values():
        assert "ApiLive" in as_json(method["Properties"]["Integration"]["Uri"])


def test_rest_stage_is_throttled_logged_and_behind_waf(dev: Template) -> None:
    dev.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "MethodSettings": Match.array_with(
                [Match.object_like({"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100})]
            ),
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "TracingEnabled": True,
        },
    )
    acl = resources(dev, "AWS::WAFv2::WebACL")
    assert len(acl) == 1
    rules = next(iter(acl.values()))["Properties"]["Rules"]
    assert {r["Name"] for r in rules} >= {"AWSManagedRulesCommonRuleSet", "RatePerIp"}
    association = next(iter(resources(dev, "AWS::WAFv2::WebACLAssociation").values()))
    assert "Stage" in as_json(association["Properties"]["ResourceArn"])


def test_outputs_name_the_three_urls(dev: Template) -> None:
    outputs = dev.find_outputs("*")
    assert {"RestUrl", "WebSocketUrl", "WebUrl"} <= set(outputs)
    assert as_json(outputs["WebSocketUrl"]["Value"]).startswith('{"Fn::Join": ["", ["wss://"')
