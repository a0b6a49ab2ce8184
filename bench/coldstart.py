"""Cold start and footprint: each handler's init time in a fresh interpreter, and sizes.

    .venv/bin/python -m bench.coldstart --runs 9

For every Lambda handler module, a fresh ``python`` process imports it (what Lambda's init
phase does) with the environment a deployment gives it; the import is timed inside the
process with ``perf_counter`` and the median of ``--runs`` runs is reported, with the
number of modules it loaded. Then the sizes: the Lambda layer as built for AWS
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


def init_time(name: str, runs: int) -> tuple[float, int]:
    """Median import time (ms) and modules loaded by ``handlers.<name>``."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "functions"), **ENV}
    times: list[float] = []
    modules = 0
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - our interpreter, a fixed script
            [sys.executable, "-c", PROBE.format(name=name)],
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
    args = parser.parse_args(argv)
    print("| handler | init (median ms) | modules loaded |")
    print("|---|---:|---:|")
    for name in HANDLERS:
        median, modules = init_time(name, args.runs)
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
