"""The CDK app: ``python3 app.py`` (via cdk.json) or ``build_app(context)`` in tests.

Stacks:
- ``ChatFlow-<stage>`` (context ``stage``, default ``dev``): one stage deployed directly.
- ``ChatFlow-Pipeline`` (when context ``pipeline:connectionArn`` is given): the CDK
  Pipelines deploy pipeline that ships staging, smoke-tests it and, after a manual
  approval, production.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script by the CDK CLI: make the repo importable
    _root = str(Path(__file__).resolve().parent.parent)
    sys.path[:] = [_root] + [p for p in sys.path if Path(p).resolve() != Path(_root, "infra_cdk")]

from aws_cdk import App, Environment

from infra_cdk.pipeline import PipelineSettings, PipelineStack
from infra_cdk.stack import ChatFlowStack
from infra_cdk.stages import stage_config

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def project_context() -> dict[str, Any]:
    """cdk.json's context (feature flags, defaults): tests synthesize what the CLI would."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


def _environment(app: App) -> Environment:
    account = app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = app.node.try_get_context("region") or os.environ.get("CDK_DEFAULT_REGION")
    return Environment(account=account, region=region)


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    layer_build_root: Path | None = None,
) -> App:
    """Every stack of the app, not yet synthesized (tests call ``Template.from_stack``)."""
    app = App(context={**project_context(), **(context or {})}, outdir=outdir)
    env = _environment(app)
    stage = str(app.node.try_get_context("stage") or "dev")
    config = stage_config(stage, app.node.try_get_context(f"alarmEmail:{stage}"))
    ChatFlowStack(
        app, f"ChatFlow-{stage}", config=config, env=env, layer_build_root=layer_build_root
    )
    pipeline = PipelineSettings.from_context(app)
    if pipeline is not None:
        PipelineStack(
            app,
            "ChatFlow-Pipeline",
            settings=pipeline,
            env=env,
            layer_build_root=layer_build_root,
        )
    return app


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
