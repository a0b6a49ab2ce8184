"""The dependency layer: the Lambda platform's wheels, within budget, cached by hash."""

from __future__ import annotations

import tomllib
from pathlib import Path

from infra_cdk.bundling import PYTHON_VERSION, RUNTIME
from layers.build import (
    MAX_UNZIPPED_BYTES,
    REQUIREMENTS,
    LayerTarget,
    build_layer,
    is_current,
    pip_command,
    requirements_hash,
    unzipped_size,
)

REPO = Path(__file__).resolve().parents[2]


def _names(lines: list[str]) -> set[str]:
    names = set()
    for raw in lines:
        line = raw.split("#")[0].strip()
        if line:
            name = line.split("[")[0]
            for sep in ("==", ">=", "<", "~="):
                name = name.split(sep)[0]
            names.add(name.strip().lower().replace("_", "-"))
    return names


def test_layer_fits_the_budget(layer_dir: Path) -> None:
    assert 0 < unzipped_size(layer_dir / "python") <= MAX_UNZIPPED_BYTES


def test_layer_holds_aarch64_wheels_for_the_runtime_python(layer_dir: Path) -> None:
    tag = "cpython-" + PYTHON_VERSION.replace(".", "") + "-aarch64-linux-gnu"
    extensions = [p.name for p in (layer_dir / "python" / "pydantic_core").glob("*.so")]
    assert extensions and all(tag in name for name in extensions)
    assert not list((layer_dir / "python").rglob("__pycache__"))


def test_runtime_and_layer_python_agree() -> None:
    assert RUNTIME.name == f"python{PYTHON_VERSION}"


def test_pip_resolves_for_lambda_only_from_wheels() -> None:
    command = pip_command(LayerTarget("arm64", "3.14"), Path("/tmp/out"))
    joined = " ".join(command)
    assert "--only-binary=:all:" in command
    assert "--platform manylinux2014_aarch64" in joined
    assert "--platform manylinux_2_28_aarch64" in joined
    assert "--python-version 3.14 --abi cp314" in joined
    assert "--implementation cp" in joined


def test_cache_key_changes_with_the_target() -> None:
    arm = requirements_hash(LayerTarget("arm64", "3.14"))
    assert arm != requirements_hash(LayerTarget("x86_64", "3.14"))
    assert arm != requirements_hash(LayerTarget("arm64", "3.13"))


def test_a_current_build_is_reused(layer_dir: Path) -> None:
    stamp = (layer_dir / ".requirements-sha256").stat().st_mtime_ns
    assert is_current(LayerTarget("arm64", PYTHON_VERSION))
    assert build_layer(LayerTarget("arm64", PYTHON_VERSION)) == layer_dir
    assert (layer_dir / ".requirements-sha256").stat().st_mtime_ns == stamp


def test_requirements_mirror_the_project_dependencies_but_boto3() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = _names(REQUIREMENTS.read_text().splitlines())
    assert _names(project) - {"boto3"} <= layer
    assert "boto3" not in layer and "botocore" not in layer
