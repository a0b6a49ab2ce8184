"""The deploy pipeline: source, synth (make test), staging, smoke test, approval, prod."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from tests.infra.conftest import as_json, resources


def _stages(pipeline: Template) -> list[dict[str, Any]]:
    (body,) = resources(pipeline, "AWS::CodePipeline::Pipeline").values()
    stages: list[dict[str, Any]] = body["Properties"]["Stages"]
    return stages


def test_stages_in_order(pipeline: Template) -> None:
    names = [stage["Name"] for stage in _stages(pipeline)]
    assert names[:2] == ["Source", "Build"]
    assert names.index("Staging") < names.index("Production")


def test_source_is_the_connection_from_context(pipeline: Template) -> None:
    (action,) = _stages(pipeline)[0]["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    config = action["Configuration"]
    assert config["FullRepositoryId"] == "example/chatflow"
    assert config["ConnectionArn"].endswith("connection/00000000-0000-0000-0000-000000000000")


def test_synth_runs_make_test(pipeline: Template) -> None:
    projects = [as_json(p) for p in resources(pipeline, "AWS::CodeBuild::Project").values()]
    (synth,) = [p for p in projects if "cdk synth" in p]
    assert "make test" in synth
    assert synth.index("make test") < synth.index("cdk synth")


def test_staging_is_smoke_tested_and_production_needs_approval(pipeline: Template) -> None:
    stages = {stage["Name"]: stage["Actions"] for stage in _stages(pipeline)}
    staging = {a["Name"]: a for a in stages["Staging"]}
    smoke = staging["SmokeTest"]
    deploys = [a for a in staging.values() if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert smoke["RunOrder"] > max(a["RunOrder"] for a in deploys)
    production = sorted(stages["Production"], key=lambda a: a["RunOrder"])
    assert production[0]["ActionTypeId"]["Category"] == "Approval"
    assert all(a["RunOrder"] > production[0]["RunOrder"] for a in production[1:])
    smoke_project = [
        as_json(p)
        for p in resources(pipeline, "AWS::CodeBuild::Project").values()
        if "scripts/smoke.py" in as_json(p)
    ]
    assert len(smoke_project) == 1
    assert "--http" in smoke_project[0] and "--ws" in smoke_project[0]
