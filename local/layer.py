"""The dependency layer and the runtime's SDK, for the Python the local stack runs on.

On AWS a function imports its code, the layer (``layers/requirements.txt``) and the boto3
that Lambda's Python runtime ships, nothing else. Locally the same three folders are the
worker's whole ``sys.path``: the layer is installed by pip for the local interpreter and
platform (``layers.build`` targets the Lambda platform instead), cached under the state
folder by the hash of the requirements and the interpreter (``layers`` is not an installed
package, so this module reads its requirements file by path); the SDK folder links to the
boto3 and botocore of the local virtualenv, standing in for the runtime's copy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import platform
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent.parent / "layers" / "requirements.txt"
# boto3 and what it imports: the SDK the Lambda Python runtime provides.
SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


class LocalLayerError(RuntimeError):
    """pip could not install the layer's requirements for this interpreter."""


def prune(site: Path) -> None:
    """Drop byte code and test suites, as ``layers.build`` does for the AWS layer."""
    for path in sorted(site.rglob("*"), reverse=True):
        if path.is_dir() and path.name in ("__pycache__", "tests") and not path.is_symlink():
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in (".pyc", ".pyo"):
            path.unlink()


def interpreter_tag() -> str:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"{platform.system().lower()}-{platform.machine()}-py{version}"


def layer_hash(requirements: Path = REQUIREMENTS) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(interpreter_tag().encode())
    return digest.hexdigest()[:16]


def build_local_layer(root: Path, requirements: Path = REQUIREMENTS) -> Path:
    """The ``python/`` folder of the layer for this interpreter, built on first use."""
    folder = root / f"{interpreter_tag()}-{layer_hash(requirements)}"
    site = folder / "python"
    if site.is_dir():
        return site
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "python").mkdir(parents=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-compile", "--target", str(staging / "python"), "-r", str(requirements)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise LocalLayerError(f"pip could not build the layer:\n{result.stderr.strip()}")
    prune(staging / "python")
    for stale in root.glob(f"{interpreter_tag()}-*"):
        if stale != staging:
            shutil.rmtree(stale, ignore_errors=True)  # older requirements
    staging.rename(folder)
    return site


def link_sdk(folder: Path) -> Path:
    """A folder of links to the virtualenv's boto3 and its dependencies."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SDK_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise LocalLayerError(f"{name} is not installed; run make up again")
        source = Path(spec.origin)
        if source.name == "__init__.py":
            source = source.parent
        link = folder / source.name
        if link.is_symlink() or link.exists():
            if link.resolve() == source.resolve():
                continue
            link.unlink()
        link.symlink_to(source)
    return folder
