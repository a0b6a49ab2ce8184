"""local.template and local.intrinsics: reading the SAM template the local stack runs from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from local.intrinsics import CloudFormationLoader, Resolver, parameter_values, referenced_ids
from local.template import StackModel, TemplateError, build_model, load_template, read_template

pytestmark = pytest.mark.unit

SECRET = "s" * 32
PARAMETERS = {
    "DatabaseUrl": "postgresql://chatflow:pw@127.0.0.1:5432/chatflow",
    "RedisUrl": "redis://127.0.0.1:6379/0",
    "JwtSecret": SECRET,
}
REFS = {
    "ConnectionsTable": "chatflow-connections",
    "FanoutQueue": "http://127.0.0.1:4566/000000000000/fanout",
    "WebSocketApi": "localws",
}


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 (a SafeLoader)


def _resolver(**kwargs: Any) -> Resolver:
    parameters = {"AWS::Region": "eu-west-1", "Stage": "local", "Empty": ""}
    return Resolver(parameters=parameters, **kwargs)


@pytest.fixture(scope="module")
def model() -> StackModel:
    return read_template(PARAMETERS, REFS)


# --- YAML short forms ---------------------------------------------------------------------


def test_short_forms_become_their_long_forms() -> None:
    document = _yaml(
        """
        a: !Ref Stage
        b: !GetAtt Queue.Arn
        c: !Sub "x-${Stage}"
        d: !Sub ["${A}", {A: !Ref Stage}]
        e: !If [Cond, 1, 2]
        f: !Not [!Equals [!Ref Empty, ""]]
        g: !Join [",", [a, b]]
        h: !Select [0, [a]]
        i: !Condition Cond
        """
    )
    assert document == {
        "a": {"Ref": "Stage"},
        "b": {"Fn::GetAtt": ["Queue", "Arn"]},
        "c": {"Fn::Sub": "x-${Stage}"},
        "d": {"Fn::Sub": ["${A}", {"A": {"Ref": "Stage"}}]},
        "e": {"Fn::If": ["Cond", 1, 2]},
        "f": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Empty"}, ""]}]},
        "g": {"Fn::Join": [",", ["a", "b"]]},
        "h": {"Fn::Select": [0, ["a"]]},
        "i": {"Condition": "Cond"},
    }


def test_dates_stay_text_as_cloudformation_reads_them() -> None:
    assert _yaml("AWSTemplateFormatVersion: 2010-09-09") == {
        "AWSTemplateFormatVersion": "2010-09-09"
    }


def test_load_template_refuses_a_file_without_resources(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("Parameters: {}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="no Resources"):
        load_template(path)


# --- The resolver ------------------------------------------------------------------------


def test_ref_reads_parameters_then_resources() -> None:
    resolver = _resolver(refs={"Table": "t1"})
    assert resolver.resolve({"Ref": "Stage"}) == "local"
    assert resolver.resolve({"Ref": "Table"}) == "t1"
    with pytest.raises(TemplateError, match="'Missing'"):
        resolver.resolve({"Ref": "Missing"})


def test_sub_in_both_forms_with_attributes_and_escapes() -> None:
    resolver = _resolver(refs={"Api": "abc"}, attributes={"Api.ApiEndpoint": "wss://h"})
    text = "https://${Api}.execute-api.${AWS::Region}/${Stage} ${Api.ApiEndpoint} ${!Literal}"
    assert (
        resolver.resolve({"Fn::Sub": text})
        == "https://abc.execute-api.eu-west-1/local wss://h ${Literal}"
    )
    assert (
        resolver.resolve({"Fn::Sub": ["${Name}-${Stage}", {"Name": {"Ref": "Api"}}]}) == "abc-local"
    )


def test_get_att_without_a_value_is_an_error_naming_it() -> None:
    with pytest.raises(TemplateError, match=r"Queue\.Arn"):
        _resolver().resolve({"Fn::GetAtt": ["Queue", "Arn"]})


def test_conditions_choose_the_if_branch() -> None:
    conditions = {
        "HasEmpty": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Empty"}, ""]}]},
        "IsLocal": {"Fn::Equals": ["local", {"Ref": "Stage"}]},
        "Both": {"Fn::And": [{"Condition": "IsLocal"}, {"Condition": "HasEmpty"}]},
        "Either": {"Fn::Or": [{"Condition": "IsLocal"}, {"Condition": "HasEmpty"}]},
    }
    resolver = _resolver(conditions=conditions)
    assert resolver.resolve({"Fn::If": ["HasEmpty", "set", "unset"]}) == "unset"
    assert resolver.resolve({"Fn::If": ["IsLocal", "yes", "no"]}) == "yes"
    assert resolver.condition("Both") is False
    assert resolver.condition("Either") is True
    with pytest.raises(TemplateError, match="unknown condition"):
        resolver.condition("Nope")


def test_no_value_drops_the_key_or_item() -> None:
    resolver = _resolver(conditions={"Never": {"Fn::Equals": ["a", "b"]}})
    no_value = {"Fn::If": ["Never", "x", {"Ref": "AWS::NoValue"}]}
    assert resolver.resolve({"keep": 1, "drop": no_value}) == {"keep": 1}
    assert resolver.resolve(["a", no_value]) == ["a"]


def test_join_select_split_and_find_in_map() -> None:
    resolver = _resolver(mappings={"Sizes": {"local": {"Memory": 256}}})
    assert resolver.resolve({"Fn::Join": ["/", ["a", {"Ref": "Stage"}, 3]]}) == "a/local/3"
    assert resolver.resolve({"Fn::Select": ["1", ["a", "b"]]}) == "b"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [".", "x.y.z"]}]}) == "y"
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}) == 256
    with pytest.raises(TemplateError, match="out of range"):
        resolver.resolve({"Fn::Select": [5, ["a"]]})


def test_parameter_values_apply_defaults_and_rules_without_echoing_values() -> None:
    template = {
        "Parameters": {
            "Secret": {"Type": "String", "NoEcho": True, "MinLength": 32},
            "Level": {"Type": "String", "Default": "INFO", "AllowedValues": ["INFO", "DEBUG"]},
            "Count": {"Type": "Number", "Default": 5, "MinValue": 1},
        }
    }
    values = parameter_values(template, {"Secret": SECRET}, {"AWS::Region": "r"})
    assert values == {"AWS::Region": "r", "Secret": SECRET, "Level": "INFO", "Count": "5"}
    with pytest.raises(TemplateError, match="Secret is shorter") as short:
        parameter_values(template, {"Secret": "tooshort-but-secret"}, {})
    assert "tooshort" not in str(short.value)
    with pytest.raises(TemplateError, match="Secret has no value"):
        parameter_values(template, {}, {})
    with pytest.raises(TemplateError, match="Level is not one of"):
        parameter_values(template, {"Secret": SECRET, "Level": "LOUD"}, {})
    with pytest.raises(TemplateError, match="Count is out of range"):
        parameter_values(template, {"Secret": SECRET, "Count": "0"}, {})
    with pytest.raises(TemplateError, match="unknown parameters: Typo"):
        parameter_values(template, {"Secret": SECRET, "Typo": "x"}, {})


def test_referenced_ids_follow_ref_get_att_and_sub() -> None:
    value = {
        "Fn::Sub": [
            "arn:${AWS::Partition}:x/${Fn.Arn}/${Other}/${!Skip}",
            {"Other": {"Ref": "Param"}},
        ]
    }
    assert referenced_ids(value) == {"AWS::Partition", "Fn", "Other", "Param"}
    assert referenced_ids([{"Fn::GetAtt": "Queue.Arn"}, {"Ref": "T"}]) == {"Queue", "T"}


# --- The model of template_localstack.yml --------------------------------------------------


def test_model_names_every_function_with_its_handler(model: StackModel) -> None:
    handlers = {f.logical_id: f.handler for f in model.functions.values()}
    assert handlers == {
        "Api": "handlers.api.handler",
        "Migrate": "handlers.migrate.handler",
        "WsAuthorizer": "handlers.ws_authorizer.handler",
        "WsConnect": "handlers.ws_connect.handler",
        "WsFrame": "handlers.ws_frame.handler",
        "WsDisconnect": "handlers.ws_disconnect.handler",
        "PresenceSweeper": "handlers.presence_sweeper.handler",
        "FanoutWorker": "handlers.fanout_worker.handler",
    }
    api = model.function("Api")
    assert (api.timeout, api.memory_size, api.runtime) == (29, 1024, "python3.12")
    assert api.name == "chatflow-api"
    assert api.code_uri == "functions/"
    assert api.layers == ("layers/build/x86_64-py3.12/",)
    with pytest.raises(TemplateError, match="no function 'Nope'"):
        model.function("Nope")


def test_model_environment_is_resolved_for_every_function(model: StackModel) -> None:
    for function in model.functions.values():
        environment = function.environment
        assert environment["DATABASE_URL"] == PARAMETERS["DatabaseUrl"]
        assert environment["JWT_SECRET"] == SECRET
        assert environment["CONNECTIONS_TABLE"] == "chatflow-connections"
        assert environment["FANOUT_QUEUE_URL"] == REFS["FanoutQueue"]
        assert environment["FANOUT_INLINE_MAX"] == "1000"
        assert environment["LOG_LEVEL"] == "INFO"
        assert environment["AWS_ENDPOINT_URL"] == ""
        assert (
            environment["WS_MANAGEMENT_ENDPOINT"]
            == "https://localws.execute-api.us-east-1.amazonaws.com/local"
        )
        assert SECRET not in repr(function)


def test_management_endpoint_parameter_overrides_the_aws_form() -> None:
    model = read_template(
        {**PARAMETERS, "WsManagementEndpoint": "http://127.0.0.1:3001", "Stage": "dev"}, REFS
    )
    function = model.function("WsFrame")
    assert function.environment["WS_MANAGEMENT_ENDPOINT"] == "http://127.0.0.1:3001"
    assert model.websocket_stage == model.rest_stage == "dev"


def test_model_routes(model: StackModel) -> None:
    assert [(r.path, r.methods, r.function, r.is_greedy) for r in model.rest_routes] == [
        ("/api", ("ANY",), "Api", False),
        ("/api/{proxy+}", ("ANY",), "Api", True),
    ]
    routes = {
        key: (r.function, r.authorization_type, r.two_way)
        for key, r in model.websocket_routes.items()
    }
    assert routes == {
        "$connect": ("WsConnect", "CUSTOM", False),
        "$default": ("WsFrame", "NONE", False),
        "$disconnect": ("WsDisconnect", "NONE", False),
    }
    authorizer = model.connect_authorizer
    assert authorizer is not None
    assert authorizer.function == "WsAuthorizer"
    assert authorizer.identity_sources == ()


def test_model_table_queues_and_schedule(model: StackModel) -> None:
    table = model.tables["ConnectionsTable"]
    assert (table.name, table.hash_key, table.range_key) == ("chatflow-connections", "pk", "sk")
    assert table.ttl_attribute == "expiresAt"
    queue = model.queues["FanoutQueue"]
    assert (queue.dead_letter_queue, queue.max_receive_count) == ("FanoutDeadLetterQueue", 5)
    (subscription,) = model.queue_subscriptions
    assert (subscription.queue, subscription.function, subscription.batch_size) == (
        "FanoutQueue",
        "FanoutWorker",
        10,
    )
    assert subscription.report_batch_item_failures is True
    (schedule,) = model.schedules
    assert (schedule.expression, schedule.functions, schedule.enabled) == (
        "rate(1 minute)",
        ("PresenceSweeper",),
        True,
    )


def test_missing_resource_value_names_the_resource() -> None:
    with pytest.raises(TemplateError, match="'FanoutQueue'"):
        read_template(PARAMETERS, {k: v for k, v in REFS.items() if k != "FanoutQueue"})


def test_resources_under_a_false_condition_are_left_out() -> None:
    template: dict[str, Any] = {
        "Parameters": {"On": {"Type": "String", "Default": "no"}},
        "Conditions": {"IsOn": {"Fn::Equals": [{"Ref": "On"}, "yes"]}},
        "Resources": {
            "Maybe": {
                "Type": "AWS::SQS::Queue",
                "Condition": "IsOn",
                "Properties": {"VisibilityTimeout": 5},
            },
            "Always": {"Type": "AWS::SQS::Queue", "Properties": {}},
        },
    }
    assert set(build_model(template, {}, {}).queues) == {"Always"}
    assert set(build_model(template, {"On": "yes"}, {}).queues) == {"Always", "Maybe"}
