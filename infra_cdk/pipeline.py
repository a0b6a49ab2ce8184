"""The deploy pipeline (CDK Pipelines): source -> synth (make test) -> staging -> smoke
test -> manual approval -> production.

The source is a CodeStar/CodeConnections connection given as context, so no token ever
sits in the repository: ``-c pipeline:connectionArn=arn:aws:codeconnections:...`` with
``-c pipeline:repository=owner/name`` (and optionally ``-c pipeline:branch=main``).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Environment, Stack, Stage, Token, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from constructs import Construct

from infra_cdk.nag import suppress_pipeline_findings
from infra_cdk.stack import ChatFlowStack
from infra_cdk.stages import stage_config

CONTEXT_PREFIX = "pipeline:"


@dataclass(frozen=True)
class PipelineSettings:
    """Where the pipeline takes its source from."""

    connection_arn: str
    repository: str
    branch: str = "main"

    @classmethod
    def from_context(cls, scope: Construct) -> PipelineSettings | None:
        """None when no connection is configured: then the app has no pipeline stack."""
        arn = scope.node.try_get_context(CONTEXT_PREFIX + "connectionArn")
        if not arn:
            return None
        repository = scope.node.try_get_context(CONTEXT_PREFIX + "repository")
        if not repository:
            raise ValueError(
                "context pipeline:repository (owner/name) is required with a connection"
            )
        branch = scope.node.try_get_context(CONTEXT_PREFIX + "branch") or "main"
        return cls(str(arn), str(repository), str(branch))

    def context_flags(self) -> str:
        """The same context for the synth inside the pipeline (self-mutation keeps it)."""
        pairs = {
            "connectionArn": self.connection_arn,
            "repository": self.repository,
            "branch": self.branch,
        }
        return " ".join(f"-c {shlex.quote(CONTEXT_PREFIX + k + '=' + v)}" for k, v in pairs.items())


class ChatFlowStage(Stage):
    """One deployable copy of ChatFlow (a Stage holds the stack the pipeline deploys)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage_name: str,
        layer_build_root: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config = stage_config(stage_name, self.node.try_get_context(f"alarmEmail:{stage_name}"))
        self.stack = ChatFlowStack(
            self,
            "ChatFlow",
            config=config,
            stack_name=f"ChatFlow-{stage_name}",
            layer_build_root=layer_build_root,
        )


class PipelineStack(Stack):
    """The pipeline; it deploys ``Staging`` and ``Production`` (ChatFlowStage)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PipelineSettings,
        layer_build_root: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description="ChatFlow deploy pipeline", **kwargs)
        if Token.is_unresolved(self.account) or Token.is_unresolved(self.region):
            raise ValueError(
                "the pipeline deploys to a concrete account and region: pass -c account=... "
                "-c region=... (or set CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION)"
            )
        env = Environment(account=self.account, region=self.region)
        source = pipelines.CodePipelineSource.connection(
            settings.repository, settings.branch, connection_arn=settings.connection_arn
        )
        synth = pipelines.ShellStep(
            "Synth",
            input=source,
            install_commands=["n 22 >/dev/null 2>&1 || true", "npm install -g aws-cdk@2"],
            commands=[
                "make test",
                f"cd infra_cdk && cdk synth {settings.context_flags()}",
            ],
            primary_output_directory="infra_cdk/cdk.out",
        )
        pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name="chatflow",
            synth=synth,
            cross_account_keys=True,
            enable_key_rotation=True,
            docker_enabled_for_synth=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(
                    build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                    compute_type=codebuild.ComputeType.MEDIUM,
                )
            ),
        )
        self.staging = ChatFlowStage(
            self, "Staging", stage_name="staging", layer_build_root=layer_build_root, env=env
        )
        smoke = pipelines.ShellStep(
            "SmokeTest",
            input=source,
            env_from_cfn_outputs={
                "CHATFLOW_HTTP": self.staging.stack.rest_url_output,
                "CHATFLOW_WS": self.staging.stack.ws_url_output,
            },
            install_commands=["python3 -m pip install --quiet 'websockets>=13'"],
            commands=['python3 scripts/smoke.py --http "$CHATFLOW_HTTP" --ws "$CHATFLOW_WS"'],
        )
        pipeline.add_stage(self.staging, post=[smoke])
        self.production = ChatFlowStage(
            self, "Production", stage_name="prod", layer_build_root=layer_build_root, env=env
        )
        pipeline.add_stage(
            self.production,
            pre=[
                pipelines.ManualApprovalStep(
                    "PromoteToProduction",
                    comment="Staging passed its smoke test. Promote this build to production?",
                )
            ],
        )
        pipeline.build_pipeline()
        self.pipeline = pipeline
        self._role_arns_as_sub()
        suppress_pipeline_findings(self)

    def _role_arns_as_sub(self) -> None:
        """Render the deploy actions' role ARNs as Fn::Sub instead of Fn::Join.

        Same value; cfn-lint's ARN-format check (E3703) cannot read an Fn::Join.
        """
        cfn = self.pipeline.pipeline.node.default_child
        assert isinstance(cfn, codepipeline.CfnPipeline)
        stages = self.resolve(cfn.stages)
        for i, stage in enumerate(stages):
            for j, action in enumerate(stage.get("actions", [])):
                role = (action.get("configuration") or {}).get("RoleArn")
                if isinstance(role, dict) and "Fn::Join" in role:
                    cfn.add_property_override(
                        f"Stages.{i}.Actions.{j}.Configuration.RoleArn",
                        {"Fn::Sub": join_as_sub(role["Fn::Join"])},
                    )


def join_as_sub(join: list[Any]) -> str:
    """``Fn::Join`` (of strings, Refs and GetAtts) as the equivalent ``Fn::Sub`` string."""
    delimiter, parts = join
    rendered: list[str] = []
    for part in parts:
        if isinstance(part, str):
            rendered.append(part.replace("${", "${!"))
        elif "Ref" in part:
            rendered.append("${" + part["Ref"] + "}")
        elif "Fn::GetAtt" in part:
            rendered.append("${" + ".".join(part["Fn::GetAtt"]) + "}")
        else:
            raise ValueError(f"cannot express {part!r} in Fn::Sub")
    return str(delimiter).join(rendered)
