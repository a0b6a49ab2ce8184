"""Cold start and footprint: each handler's init time in a fresh interpreter, and sizes.

    .venv/bin/python -m bench.coldstart --runs 9

For every Lambda handler module, a fresh ``python`` process imports it (what Lambda's init
phase does) with the environment a deployment gives it; the import is timed inside the
process with ``perf_counter`` and the median of ``--runs`` runs is reported, with the
number of modules it loaded. The process sees what a function sees on AWS and in the local
stack's workers (``python -I -S``, ``sys.path`` = the function code, the dependency layer
built for this interpreter, boto3 as the runtime ships it), not the development virtualenv,
whose extra packages change what gets imported: PyJWT, for one, loads ``cryptography``
when it is installed, and the layer does not install it. ``--site venv`` measures in the
virtualenv instead. Then the sizes: the Lambda layer as built for AWS
(``layers/build/arm64-py*``; unzipped and zipped) and the function asset (``functions/``
without caches; unzipped and zipped). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = (
    "api",
    "migrate",
    "ws_authorizer",
    "ws_connect",
    "ws_frame",
    "ws_disconnect",
    "presence_sweeper",
    "fanout_worker",
)
PROBE = (
    "import sys, time, json\n"
    "sys.path[:0] = {paths!r}\n"
    "before = len(sys.modules)\n"
    "start = time.perf_counter()\n"
    "import handlers.{name}\n"
    "print(json.dumps([time.perf_counter() - start, len(sys.modules) - before]))\n"
)
ENV = {
    "DATABASE_URL": "postgresql://chatflow@127.0.0.1:1/chatflow",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "JWT_SECRET": "cold-start-secret-long-enough-for-hs256-signing",
    "CONNECTIONS_TABLE": "chatflow-connections",
    "WS_MANAGEMENT_ENDPOINT": "http://127.0.0.1:1",
    "LOG_LEVEL": "WARNING",
}


def lambda_paths() -> list[str]:
    """The function code, the layer for this interpreter and the runtime's boto3."""
    from local.layer import build_local_layer, link_sdk

    cache = ROOT / ".chatflow"
    layer = build_local_layer(cache / "layer")
    sdk = link_sdk(cache / "coldstart-sdk")
    return [str(ROOT / "functions"), str(layer), str(sdk)]


def init_time(name: str, runs: int, paths: list[str] | None) -> tuple[float, int]:
    """Median import time (ms) and modules loaded by ``handlers.<name>``.

    ``paths``: run isolated (``-I -S``) with only these on ``sys.path``; None: the venv.
    """
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "functions"), **ENV}
    flags = ["-I", "-S"] if paths is not None else []
    times: list[float] = []
    modules = 0
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - our interpreter, a fixed script
            [sys.executable, *flags, "-c", PROBE.format(name=name, paths=paths or [])],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        seconds, modules = json.loads(out.strip().splitlines()[-1])
        times.append(seconds * 1000)
    return statistics.median(times), modules


def folder_sizes(folder: Path) -> tuple[int, int]:
    """Unzipped bytes and zipped bytes (deflate) of a folder, caches left out."""
    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]
    raw = sum(p.stat().st_size for p in files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder))
    return raw, buffer.tell()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--site",
        choices=("layer", "venv"),
        default="layer",
        help="what the handler can import: the layer and boto3, as on Lambda, or the venv",
    )
    args = parser.parse_args(argv)
    paths = lambda_paths() if args.site == "layer" else None
    print("| handler | init (median ms) | modules loaded |")
    print("|---|---:|---:|")
    for name in HANDLERS:
        median, modules = init_time(name, args.runs, paths)
        print(f"| `handlers.{name}` | {median:.0f} | {modules} |")
    print()
    print("| artifact | unzipped | zipped |")
    print("|---|---:|---:|")
    layers = sorted((ROOT / "layers" / "build").glob("arm64-py*"))
    for layer in layers:
        raw, packed = folder_sizes(layer)
        print(f"| layer `{layer.name}` | {raw / 2**20:.1f} MiB | {packed / 2**20:.1f} MiB |")
    if not layers:
        print("| layer | not built (`python -m layers.build`) | |")
    raw, packed = folder_sizes(ROOT / "functions")
    print(f"| function asset `functions/` | {raw / 2**10:.0f} KiB | {packed / 2**10:.0f} KiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
