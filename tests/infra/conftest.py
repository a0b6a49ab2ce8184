"""Synthesize every stack once per session, offline: no AWS account, no Docker.

The layer is built once with pip (cached under layers/build by the requirements' hash,
so only the first run on a machine downloads wheels); the CDK app then bundles it
locally. Templates are shared between test modules through session fixtures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from infra_cdk.app import build_app
from infra_cdk.bundling import ARCH_NAME, PYTHON_VERSION
from infra_cdk.pipeline import PipelineStack
from layers.build import LayerTarget, build_layer

PIPELINE_CONTEXT = {
    "pipeline:connectionArn": (
        "arn:aws:codeconnections:us-east-1:123456789012:connection/"
        "00000000-0000-0000-0000-000000000000"
    ),
    "pipeline:repository": "example/chatflow",
    "alarmEmail:prod": "oncall@example.com",
    "account": "123456789012",
    "region": "us-east-1",
    # What `cdk synth` would cache in cdk.context.json after its one lookup: tests stay offline.
    "availability-zones:account=123456789012:region=us-east-1": ["us-east-1a", "us-east-1b"],
}


@dataclass(frozen=True)
class Synthesized:
    """The app, its stacks by stage name, and where the assembly was written."""

    app: App
    stacks: dict[str, Stack]
    outdir: Path

    def template(self, stage: str) -> Template:
        return Template.from_stack(self.stacks[stage])


@pytest.fixture(scope="session")
def layer_dir() -> Path:
    return build_layer(LayerTarget(ARCH_NAME, PYTHON_VERSION))


@pytest.fixture(scope="session")
def synthesized(layer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(PIPELINE_CONTEXT, outdir=str(outdir))
    app.synth()
    pipeline = app.node.find_child("ChatFlow-Pipeline")
    assert isinstance(pipeline, PipelineStack)
    dev = app.node.find_child("ChatFlow-dev")
    assert isinstance(dev, Stack)
    stacks = {
        "dev": dev,
        "staging": pipeline.staging.stack,
        "prod": pipeline.production.stack,
        "pipeline": pipeline,
    }
    return Synthesized(app, stacks, outdir)


@pytest.fixture(scope="session")
def dev(synthesized: Synthesized) -> Template:
    return synthesized.template("dev")


@pytest.fixture(scope="session")
def prod(synthesized: Synthesized) -> Template:
    return synthesized.template("prod")


@pytest.fixture(scope="session")
def staging(synthesized: Synthesized) -> Template:
    return synthesized.template("staging")


@pytest.fixture(scope="session")
def pipeline(synthesized: Synthesized) -> Template:
    return synthesized.template("pipeline")


@pytest.fixture(scope="session")
def template_files(synthesized: Synthesized) -> list[Path]:
    """Every CloudFormation template in the assembly (nested stage assemblies too)."""
    return sorted(synthesized.outdir.rglob("*.template.json"))


def resources(template: Template, type_name: str) -> dict[str, Any]:
    """The resources of one type, by logical id."""
    found: dict[str, Any] = dict(template.find_resources(type_name))
    return found


def by_handler(template: Template) -> dict[str, dict[str, Any]]:
    """Lambda functions of the stack keyed by their handler (ChatFlow's own only)."""
    functions = resources(template, "AWS::Lambda::Function")
    return {
        body["Properties"]["Handler"]: body
        for body in functions.values()
        if body["Properties"].get("Handler", "").startswith("handlers.")
    }


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
