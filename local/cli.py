"""``chatflow local up|down|reset|seed|status``: the local stack from the command line.

``up`` runs in the foreground (Ctrl-C stops it); ``down`` stops one started elsewhere
through the pid file in the state folder; ``reset`` wipes the data and refuses while the
stack runs; ``seed`` fills the running stack with demo data through its REST API.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
import urllib.request
from pathlib import Path

from local.stack import ENDPOINTS_FILE, StackOptions, running_pid

DEFAULT_STATE = Path(".chatflow")
# What reset keeps: the layer is a build cache, not data.
KEPT_BY_RESET = {"layer"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatflow", description="ChatFlow tools.")
    groups = parser.add_subparsers(dest="group", required=True)
    local = groups.add_parser("local", help="the Docker-free local stack")
    commands = local.add_subparsers(dest="command", required=True)

    def with_state(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--state-dir", type=Path, default=DEFAULT_STATE, help="data folder (.chatflow)"
        )
        return sub

    up = with_state(commands.add_parser("up", help="run the stack in the foreground"))
    up.add_argument("--http-port", type=int, default=3000, help="web page and REST API")
    up.add_argument("--ws-port", type=int, default=3001, help="WebSocket and @connections API")
    up.add_argument("--concurrency", type=int, default=4, help="workers per function at most")
    up.add_argument("--idle-timeout", type=float, default=600, help="WebSocket idle seconds")
    up.add_argument("--max-lifetime", type=float, default=7200, help="WebSocket lifetime s")
    up.add_argument("--database-url", help="use this PostgreSQL instead of the embedded one")
    up.add_argument("--redis-url", help="use this Redis/Valkey instead of the embedded one")
    up.add_argument("--aws-endpoint-url", help="use this DynamoDB/SQS (e.g. LocalStack)")
    up.add_argument(
        "--dynamodb",
        choices=("emulator", "moto"),
        default="emulator",
        help="local DynamoDB: the fast emulator (default) or moto (SQS is moto either way)",
    )
    up.add_argument("--layer-dir", type=Path, help="where the local layer build is cached")
    up.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the functions")
    up.add_argument(
        "--faults",
        action="store_true",
        help="fault injection: events containing chatflow-fault:raise|crash|hang misbehave",
    )
    up.add_argument(
        "--env",
        action="append",
        default=[],
        type=_assignment,
        metavar="NAME=VALUE",
        help="set an environment variable of every function, over the template's (repeatable)",
    )
    up.add_argument(
        "--schedule-interval",
        type=float,
        metavar="SECONDS",
        help="run the rate(...) schedules (the presence sweeper) this often instead",
    )
    up.add_argument(
        "--no-isolation",
        action="store_true",
        help="run functions with the virtualenv on sys.path instead of code + layer only",
    )
    for name, text in (
        ("down", "stop the running stack"),
        ("status", "show what runs"),
        ("reset", "wipe the stack's data"),
        ("seed", "create demo users and rooms"),
    ):
        with_state(commands.add_parser(name, help=text))
    return parser


def _assignment(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = {"up": _up, "down": _down, "status": _status, "reset": _reset, "seed": _seed}
    code: int = command[args.command](args)
    return code


def _up(args: argparse.Namespace) -> int:
    from local.stack import run

    options = StackOptions(
        state_dir=args.state_dir.resolve(),
        http_port=args.http_port,
        ws_port=args.ws_port,
        concurrency=args.concurrency,
        idle_timeout=args.idle_timeout,
        max_lifetime=args.max_lifetime,
        database_url=args.database_url,
        redis_url=args.redis_url,
        aws_endpoint_url=args.aws_endpoint_url,
        layer_dir=args.layer_dir.resolve() if args.layer_dir else None,
        log_level=args.log_level,
        faults=args.faults,
        isolated=not args.no_isolation,
        environment=dict(args.env),
        schedule_interval=args.schedule_interval,
        dynamodb=args.dynamodb,
    )
    return run(options)


def _down(args: argparse.Namespace) -> int:
    pid = running_pid(args.state_dir)
    if pid is None:
        print("the local stack is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if running_pid(args.state_dir) is None:
            print(f"stopped (pid {pid})")
            return 0
        time.sleep(0.2)
    print(f"pid {pid} is still running after 60 s", file=sys.stderr)
    return 1


def _endpoints(state_dir: Path) -> dict[str, str] | None:
    try:
        loaded: dict[str, str] = json.loads((state_dir / ENDPOINTS_FILE).read_text())
    except FileNotFoundError:
        return None
    return loaded


def _status(args: argparse.Namespace) -> int:
    pid = running_pid(args.state_dir)
    if pid is None:
        print("the local stack is not running")
        return 3
    endpoints = _endpoints(args.state_dir)
    if endpoints is None:
        print(f"starting (pid {pid})")
        return 0
    print(f"running (pid {pid})")
    for name, url in endpoints.items():
        print(f"  {name:12} {url}")
    try:
        with urllib.request.urlopen(endpoints["http"] + "/api/health", timeout=5) as response:  # noqa: S310
            print(f"  health       {response.status} {response.read().decode()[:200]}")
    except OSError as exc:
        print(f"  health       unreachable: {exc}")
    return 0


def _reset(args: argparse.Namespace) -> int:
    state: Path = args.state_dir
    pid = running_pid(state)
    if pid is not None:
        print(f"the local stack is running (pid {pid}): stop it first", file=sys.stderr)
        return 1
    if not state.exists():
        print("nothing to reset")
        return 0
    for entry in state.iterdir():
        if entry.name in KEPT_BY_RESET:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    print(f"wiped {state} (kept the layer build cache)")
    return 0


def _seed(args: argparse.Namespace) -> int:
    from local.seed import SeedError, seed

    endpoints = _endpoints(args.state_dir)
    if endpoints is None or running_pid(args.state_dir) is None:
        print("the local stack is not running: start it with make up", file=sys.stderr)
        return 1
    try:
        lines = seed(endpoints["http"])
    except (SeedError, OSError) as exc:
        print(f"seeding failed: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
