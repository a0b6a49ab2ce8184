"""Functions, layer, code asset, environment, event sources and the sweeper schedule."""

from __future__ import annotations

from pathlib import Path

from aws_cdk.assertions import Match, Template

from infra_cdk.names import FUNCTIONS
from tests.infra.conftest import Synthesized, as_json, by_handler, resources

ENVIRONMENT = (
    "DATABASE_URL",
    "DATABASE_IAM_AUTH",
    "REDIS_URL",
    "REDIS_CLUSTER",
    "CONNECTIONS_TABLE",
    "WS_MANAGEMENT_ENDPOINT",
    "JWT_SECRET_ARN",
    "JWT_TTL_SECONDS",
    "PRESENCE_TTL_SECONDS",
    "FANOUT_INLINE_MAX",
    "FANOUT_QUEUE_URL",
    "LOG_LEVEL",
    "POWERTOOLS_SERVICE_NAME",
)


def test_every_handler_is_a_function_on_arm64_and_the_newest_python(dev: Template) -> None:
    functions = by_handler(dev)
    assert sorted(functions) == sorted(spec.handler for spec in FUNCTIONS)
    for body in functions.values():
        props = body["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert len(props["Layers"]) == 1
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert "SubnetIds" in props["VpcConfig"]


def test_every_function_gets_the_design_environment(dev: Template) -> None:
    for handler, body in by_handler(dev).items():
        variables = body["Properties"]["Environment"]["Variables"]
        missing = [name for name in ENVIRONMENT if name not in variables]
        assert not missing, f"{handler} lacks {missing}"
        assert variables["DATABASE_IAM_AUTH"] == "true"
        assert "chatflow_app@" in as_json(variables["DATABASE_URL"])
        assert "sslmode=require" in as_json(variables["DATABASE_URL"])
        assert "rediss://" in as_json(variables["REDIS_URL"])
        assert variables["REDIS_CLUSTER"] == "true"
        assert "execute-api" in as_json(variables["WS_MANAGEMENT_ENDPOINT"])


def test_stage_settings_reach_the_functions(dev: Template, prod: Template) -> None:
    dev_api = by_handler(dev)["handlers.api.handler"]["Properties"]
    prod_api = by_handler(prod)["handlers.api.handler"]["Properties"]
    assert dev_api["Environment"]["Variables"]["LOG_LEVEL"] == "DEBUG"
    assert prod_api["Environment"]["Variables"]["LOG_LEVEL"] == "INFO"
    assert prod_api["MemorySize"] > dev_api["MemorySize"]


def test_fanout_worker_consumes_the_queue_in_batches_of_ten(dev: Template) -> None:
    dev.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "EventSourceArn": Match.any_value(),
        },
    )


def test_sweeper_runs_every_minute_on_its_live_alias(dev: Template) -> None:
    rules = resources(dev, "AWS::Events::Rule")
    assert [r["Properties"]["ScheduleExpression"] for r in rules.values()] == ["rate(1 minute)"]
    target = next(iter(rules.values()))["Properties"]["Targets"][0]["Arn"]
    aliases = resources(dev, "AWS::Lambda::Alias")
    assert target["Ref"] in aliases


def test_code_asset_carries_only_the_functions_folder(synthesized: Synthesized) -> None:
    staged = [
        path
        for path in synthesized.outdir.glob("asset.*")
        if (path / "handlers").is_dir() and (path / "chatflow").is_dir()
    ]
    assert len(staged) == 1
    files = [p.relative_to(staged[0]) for p in staged[0].rglob("*") if p.is_file()]
    assert {p.parts[0] for p in files} <= {"chatflow", "handlers"}
    assert not [p for p in files if "__pycache__" in p.parts or "tests" in p.parts]


def test_layer_asset_is_the_locally_built_layer(synthesized: Synthesized, layer_dir: Path) -> None:
    staged = [p for p in synthesized.outdir.glob("asset.*") if (p / "python" / "pydantic").is_dir()]
    assert len(staged) == 1
    names = {p.name for p in (staged[0] / "python").iterdir()}
    assert names == {p.name for p in (layer_dir / "python").iterdir()}
