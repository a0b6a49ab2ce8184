"""Build the Lambda dependency layer with pip for the Lambda platform, without Docker.

pip can resolve wheels for another platform than the one it runs on when it is told the
target exactly (platform tags, implementation, ABI, Python version) and is forbidden to
build from source (``--only-binary=:all:``): every dependency ChatFlow needs publishes
manylinux wheels, so the result is byte-for-byte what ``pip install`` would give inside
the Lambda runtime. Both ``manylinux2014_*`` and ``manylinux_2_28_*`` tags are accepted
because packages are moving from the first to the second; Lambda's Amazon Linux 2023
(glibc 2.34) runs either.

The output, ``layers/build/<arch>-py<version>/python/...``, is the layout Lambda expects
for a Python layer. It is reused while the requirements' hash (plus the target) matches,
so repeated synths and test runs neither download nor copy anything new.

    python -m layers.build --arch arm64 --python 3.14
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LAYERS_DIR = Path(__file__).resolve().parent
REQUIREMENTS = LAYERS_DIR / "requirements.txt"
BUILD_ROOT = LAYERS_DIR / "build"
STAMP_NAME = ".requirements-sha256"

#: The layer budget: Lambda allows 250 MB unzipped for a function plus its layers; ChatFlow
#: keeps its own to 30 MB so cold starts stay short and the code has room to grow.
MAX_UNZIPPED_BYTES = 30 * 1024 * 1024

DEFAULT_ARCH = "arm64"
DEFAULT_PYTHON = "3.14"

_PLATFORM_TAGS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}

# Directories no import needs at run time; dropping them keeps the layer small.
_PRUNED_DIRS = {"__pycache__", "tests", "test", "bin"}
_PRUNED_SUFFIXES = (".pyc", ".pyo", ".pyi")


class LayerBuildError(RuntimeError):
    """The layer could not be built for the target, or it is over budget."""


@dataclass(frozen=True)
class LayerTarget:
    """Which Lambda platform the layer is for."""

    arch: str = DEFAULT_ARCH
    python: str = DEFAULT_PYTHON

    def __post_init__(self) -> None:
        if self.arch not in _PLATFORM_TAGS:
            raise LayerBuildError(f"unknown architecture {self.arch!r}; use arm64 or x86_64")
        parts = self.python.split(".")
        if len(parts) != 2 or not all(part.isdigit() for part in parts):
            raise LayerBuildError(f"python version must look like 3.14, got {self.python!r}")

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    @property
    def platforms(self) -> tuple[str, ...]:
        return _PLATFORM_TAGS[self.arch]

    @property
    def name(self) -> str:
        return f"{self.arch}-py{self.python}"


def requirements_hash(target: LayerTarget, requirements: Path = REQUIREMENTS) -> str:
    """The cache key: the requirements' bytes and the target they were resolved for."""
    digest = hashlib.sha256()
    digest.update(requirements.read_bytes())
    digest.update(f"\n{target.name}\n".encode())
    return digest.hexdigest()


def build_dir(target: LayerTarget, root: Path = BUILD_ROOT) -> Path:
    """Where the layer for ``target`` lives; its ``python/`` folder is the layer's content."""
    return root / target.name


def pip_command(target: LayerTarget, dest: Path, requirements: Path = REQUIREMENTS) -> list[str]:
    """The pip invocation that resolves wheels for the Lambda platform, never sdists."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-compile", "--target", str(dest), "--requirement", str(requirements)]
    command += ["--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", target.python, "--abi", target.abi]
    for platform in target.platforms:
        command += ["--platform", platform]
    return command


def prune(site: Path) -> None:
    """Drop byte code, stubs, test suites and console scripts: nothing imports them."""
    for path in sorted(site.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _PRUNED_DIRS and not path.is_symlink():
            shutil.rmtree(path)
        elif path.is_file() and path.name.endswith(_PRUNED_SUFFIXES):
            path.unlink()


def unzipped_size(folder: Path) -> int:
    """Bytes the layer takes once Lambda has extracted it under /opt."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def is_current(target: LayerTarget, root: Path = BUILD_ROOT) -> bool:
    """True when a finished build for these requirements and this target is on disk."""
    folder = build_dir(target, root)
    stamp = folder / STAMP_NAME
    return (
        (folder / "python").is_dir()
        and stamp.is_file()
        and (stamp.read_text().strip() == requirements_hash(target))
    )


def build_layer(
    target: LayerTarget | None = None, *, root: Path = BUILD_ROOT, force: bool = False
) -> Path:
    """Build (or reuse) the layer for ``target`` and return its folder (holding ``python/``).

    The build happens in a sibling folder and is renamed into place only once it is
    complete and within budget, so an interrupted build is never mistaken for a good one.
    """
    target = target or LayerTarget()
    folder = build_dir(target, root)
    if not force and is_current(target, root):
        return folder
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    site = staging / "python"
    site.mkdir(parents=True)
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        pip_command(target, site), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise LayerBuildError(f"pip failed for {target.name}:\n{result.stderr.strip()}")
    prune(site)
    size = unzipped_size(site)
    if size > MAX_UNZIPPED_BYTES:
        shutil.rmtree(staging, ignore_errors=True)
        raise LayerBuildError(
            f"layer {target.name} is {size / 2**20:.1f} MiB unzipped; "
            f"the budget is {MAX_UNZIPPED_BYTES / 2**20:.0f} MiB"
        )
    (staging / STAMP_NAME).write_text(requirements_hash(target) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--arch", default=DEFAULT_ARCH, choices=sorted(_PLATFORM_TAGS))
    parser.add_argument("--python", default=DEFAULT_PYTHON, help="e.g. 3.14")
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache matches")
    args = parser.parse_args(argv)
    try:
        folder = build_layer(LayerTarget(args.arch, args.python), force=args.force)
    except LayerBuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    size = unzipped_size(folder / "python")
    print(f"{folder} ({size / 2**20:.1f} MiB unzipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
