"""A local stack of the fault suite's own, on services that the tests can stop and start.

The fault tests break PostgreSQL, Valkey and the DynamoDB emulator on purpose, so they
never share the e2e suite's stack: this one runs from its own state folder on free ports,
and its three services are started here (``local/services.py``) and handed to
``chatflow local up`` by URL (``--database-url``, ``--redis-url``, ``--aws-endpoint-url``),
which is what lets a test kill or restart one of them under the running stack. Each
service keeps its port across a restart, so the functions reconnect to the same URL.

The stack runs with a short presence TTL and a sweeper every second (``--env``,
``--schedule-interval``), so presence converges within seconds, and with fault injection
on (``--faults``), so a close reason can make ``$disconnect`` fail.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from local.launcher import StackProcess
from local.limits import raised_write_limits_env
from local.services import EmbeddedPostgres, EmbeddedValkey, MotoDynamoDB

PRESENCE_TTL_SECONDS = 3
SWEEP_INTERVAL_SECONDS = 1
CONCURRENCY = 3
# Fast bcrypt and generous rate limits: the suite measures faults, not throttling.
ENVIRONMENT = {
    "PRESENCE_TTL_SECONDS": str(PRESENCE_TTL_SECONDS),
    "BCRYPT_ROUNDS": "4",
    "RATE_AUTH_BURST": "10000",
    "RATE_SEND_BURST": "10000",
    "RATE_SEND_PER_SECOND": "10000",
    **raised_write_limits_env(),
    "LOG_LEVEL": "WARNING",
}


@dataclass
class FaultStack(StackProcess):
    """``chatflow local up`` on services of its own; ``postgres``, ``valkey``, ``moto``."""

    services: tuple[EmbeddedPostgres, EmbeddedValkey, MotoDynamoDB] | None = field(
        default=None, repr=False
    )

    @classmethod
    def create(cls, folder: Path) -> FaultStack:
        services = folder / "services"
        services.mkdir(parents=True, exist_ok=True)
        stack = cls(
            folder,
            services=(
                EmbeddedPostgres(services / "postgres"),
                EmbeddedValkey(services / "valkey", persist=True),
                MotoDynamoDB(services / "moto"),
            ),
        )
        stack.env = ENVIRONMENT
        stack.options = (
            "--database-url", stack.postgres.url,
            "--redis-url", stack.valkey.url,
            "--aws-endpoint-url", stack.moto.endpoint,
            "--concurrency", str(CONCURRENCY),
            "--schedule-interval", str(SWEEP_INTERVAL_SECONDS),
            "--faults",
        )  # fmt: skip
        return stack

    @property
    def postgres(self) -> EmbeddedPostgres:
        assert self.services is not None
        return self.services[0]

    @property
    def valkey(self) -> EmbeddedValkey:
        assert self.services is not None
        return self.services[1]

    @property
    def moto(self) -> MotoDynamoDB:
        assert self.services is not None
        return self.services[2]

    def start(self) -> None:
        for service in (self.postgres, self.valkey, self.moto):
            service.start(60)
        super().start()

    def worker_pids(self, function: str) -> list[int]:
        """The live worker processes of one function (``chatflow-ws-frame``...)."""
        marker = f'"functionName": "{function}"'
        pids = []
        for child in psutil.Process(self.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if marker in " ".join(child.cmdline()):
                    pids.append(child.pid)
        return pids

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, as Ctrl-C; then the services, so nothing is left running."""
        try:
            return super().stop(timeout)
        finally:
            for service in (self.moto, self.valkey, self.postgres):
                service.stop()
