"""Lambda assets without Docker: the layer through local bundling, the code as a folder.

CDK bundles an asset in Docker unless a ``local`` bundler says it did the job. The layer's
local bundler runs ``layers.build`` (pip with the Lambda platform tags; cached on the
requirements' hash) and copies the result, so neither ``cdk synth`` nor ``cdk deploy``
needs Docker. The asset hash is the requirements' hash: an unchanged layer is never
re-bundled or re-uploaded.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra_cdk.names import CODE_EXCLUDES, FUNCTIONS_DIR
from layers.build import LAYERS_DIR, LayerTarget, build_layer, requirements_hash

#: The newest Python runtime the installed aws-cdk-lib knows; the layer is built for it.
RUNTIME = lambda_.Runtime.PYTHON_3_14
PYTHON_VERSION = "3.14"
ARCHITECTURE = lambda_.Architecture.ARM_64
ARCH_NAME = "arm64"


@jsii.implements(ILocalBundling)
class LayerLocalBundling:
    """Builds (or reuses) the layer with pip and copies it into CDK's staging folder."""

    def __init__(self, target: LayerTarget, build_root: Path | None = None) -> None:
        self._target = target
        self._build_root = build_root

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        """Called by CDK instead of Docker; True tells CDK the bundle is complete."""
        if self._build_root is None:
            folder = build_layer(self._target)
        else:
            folder = build_layer(self._target, root=self._build_root)
        shutil.copytree(folder / "python", Path(output_dir) / "python", dirs_exist_ok=True)
        return True


def layer_code(build_root: Path | None = None) -> lambda_.Code:
    """The dependency layer's asset, bundled locally for the functions' runtime and arch."""
    target = LayerTarget(ARCH_NAME, PYTHON_VERSION)
    return lambda_.Code.from_asset(
        str(LAYERS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=requirements_hash(target),
        bundling=BundlingOptions(
            # Never pulled: the local bundler always succeeds or raises.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
            local=LayerLocalBundling(target, build_root),
        ),
    )


def function_code() -> lambda_.Code:
    """The functions' asset: only ``functions/`` (packages ``chatflow`` and ``handlers``)."""
    return lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=CODE_EXCLUDES)
