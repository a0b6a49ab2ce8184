"""Functions run as Lambda runs them: worker processes, one event at a time each.

A :class:`FunctionPool` per function keeps its warm workers and starts a new one (a cold
start, logged as such) only when every warm one is busy and the pool is below its
concurrency; beyond that, events wait for a worker. A worker that times out or dies is
killed and forgotten: the caller gets an error result, never an exception, so a faulty
handler cannot take the gateway down. Each worker is ``local/bootstrap.py`` in its own
process, with the function's environment from the template and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import struct
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from local.template import Function

BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap.py"
_HEADER = struct.Struct(">I")
# The environment variables a Lambda sandbox has besides the function's own.
_PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "HOME", "SSL_CERT_FILE")


class Console:
    """One place where the stack writes lines, so workers' lines never interleave mid-line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def line(self, text: str) -> None:
        self.stream.write(text.rstrip("\n") + "\n")
        self.stream.flush()

    def tagged(self, tag: str, text: str) -> None:
        self.line(f"[{tag}] {text}")


@dataclass(frozen=True)
class Sandbox:
    """What every worker gets: the interpreter, the importable folders, the shared env."""

    python: str
    paths: tuple[str, ...]  # function code first, then the layer and the runtime's SDK
    environment: dict[str, str]
    isolated: bool = True
    faults: bool = False
    region: str = "us-east-1"
    account_id: str = "000000000000"


@dataclass
class Invocation:
    """What one event gave: the handler's payload, or the error API Gateway hides."""

    request_id: str
    ok: bool
    payload: Any = None
    error: dict[str, Any] | None = None
    kind: str = "ok"  # ok | error | timeout | crash


class WorkerGone(Exception):
    """The worker process exited or broke the protocol."""


@dataclass(eq=False)  # hashed by identity: pools keep sets of workers
class Worker:
    function: Function
    process: asyncio.subprocess.Process
    console: Console
    number: int
    init_ms: float = 0.0
    reported_init: bool = False
    log_task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        data = json.dumps(message).encode()
        self.process.stdin.write(_HEADER.pack(len(data)) + data)
        await self.process.stdin.drain()

    async def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            (size,) = _HEADER.unpack(await self.process.stdout.readexactly(_HEADER.size))
            message: dict[str, Any] = json.loads(await self.process.stdout.readexactly(size))
        except (asyncio.IncompleteReadError, ValueError) as exc:
            raise WorkerGone(str(exc)) from None
        return message

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()
        if self.log_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self.log_task, 2)

    async def stop(self, grace: float = 3.0) -> None:
        """Close stdin (the worker exits at EOF); kill it if it does not."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), grace)
        await self.kill()


class FunctionPool:
    """The warm workers of one function and the limit on how many may run at once."""

    def __init__(
        self, function: Function, sandbox: Sandbox, console: Console, concurrency: int
    ) -> None:
        self.function = function
        self.sandbox = sandbox
        self.console = console
        self.concurrency = max(1, concurrency)
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._started = 0
        self._count = 0  # live workers plus those starting
        self._freed = asyncio.Condition()
        self._closed = False

    @property
    def name(self) -> str:
        return self.function.name

    @property
    def arn(self) -> str:
        s = self.sandbox
        return f"arn:aws:lambda:{s.region}:{s.account_id}:function:{self.function.name}"

    # -- invoking -----------------------------------------------------------------------

    async def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Invocation:
        """Run one event on a worker; errors of any kind come back as a failed Invocation."""
        request_id = request_id or str(uuid.uuid4())
        try:
            worker = await self._acquire()
        except Exception as exc:  # the worker could not start at all
            self.console.tagged(self.name, f"could not start a worker: {exc}")
            return Invocation(request_id, ok=False, kind="crash", error={"errorMessage": str(exc)})
        timeout = self.function.timeout
        deadline_ms = int(time.time() * 1000) + timeout * 1000
        began = time.monotonic()
        try:
            await worker.send({"requestId": request_id, "event": event, "deadlineMs": deadline_ms})
            async with asyncio.timeout(timeout):  # not wait_for: no task per invocation
                reply = await worker.receive()
        except TimeoutError:
            self.console.tagged(
                f"{self.name} {request_id}", f"Task timed out after {timeout:.2f} seconds"
            )
            await self._discard(worker)
            return Invocation(request_id, ok=False, kind="timeout")
        except (WorkerGone, ConnectionError, BrokenPipeError) as exc:
            code = await worker.process.wait()
            self.console.tagged(
                f"{self.name} {request_id}", f"the worker exited (status {code}) mid-event"
            )
            await self._discard(worker)
            return Invocation(request_id, ok=False, kind="crash", error={"errorMessage": str(exc)})
        self._report(worker, request_id, reply, time.monotonic() - began)
        await self._release(worker)
        if reply.get("ok"):
            return Invocation(request_id, ok=True, payload=reply.get("payload"))
        return Invocation(request_id, ok=False, kind="error", error=reply.get("error"))

    def _report(self, worker: Worker, rid: str, reply: dict[str, Any], elapsed: float) -> None:
        """Lambda's REPORT line; ``Init Duration`` only on a worker's first invocation."""
        duration = float(reply.get("durationMs", elapsed * 1000))
        text = (
            f"REPORT RequestId: {rid} Duration: {duration:.2f} ms "
            f"Memory Size: {self.function.memory_size} MB "
            f"Max Memory Used: {reply.get('maxMemoryMb', 0)} MB"
        )
        if not worker.reported_init:
            worker.reported_init = True
            text += f" Init Duration: {worker.init_ms:.2f} ms"
        self.console.tagged(f"{self.name} {rid}", text)

    # -- the workers ------------------------------------------------------------------

    async def _acquire(self) -> Worker:
        async with self._freed:
            while True:
                if self._closed:
                    raise RuntimeError("the stack is stopping")
                if self._idle:
                    return self._idle.pop()  # the most recently used: the warmest
                if self._count < self.concurrency:
                    self._count += 1
                    break
                await self._freed.wait()
        try:
            return await self._start()
        except BaseException:
            async with self._freed:
                self._count -= 1
                self._freed.notify()
            raise

    async def _release(self, worker: Worker) -> None:
        async with self._freed:
            closed = self._closed
            if not closed:
                self._idle.append(worker)
                self._freed.notify()
        if closed:
            await worker.stop()

    async def _discard(self, worker: Worker) -> None:
        await worker.kill()
        self._all.discard(worker)
        async with self._freed:
            self._count -= 1
            self._freed.notify()

    async def _start(self) -> Worker:
        self._started += 1
        number = self._started
        config = {
            "functionName": self.function.name,
            "functionArn": self.arn,
            "handler": self.function.handler,
            "memorySize": self.function.memory_size,
            "timeout": self.function.timeout,
            "paths": list(self.sandbox.paths),
            "faults": self.sandbox.faults,
        }
        flags = ["-I", "-S", "-u"] if self.sandbox.isolated else ["-u"]
        began = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            self.sandbox.python,
            *flags,
            str(BOOTSTRAP),
            json.dumps(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._environment(),
            cwd=self.sandbox.paths[0],
            start_new_session=True,  # Ctrl-C reaches the gateway only; it stops the workers
        )
        worker = Worker(self.function, process, self.console, number)
        worker.log_task = asyncio.ensure_future(self._stream_logs(process))
        self._all.add(worker)
        try:
            ready = await asyncio.wait_for(worker.receive(), max(10, self.function.timeout))
        except (TimeoutError, WorkerGone):
            await worker.kill()
            self._all.discard(worker)
            raise RuntimeError(f"worker {number} of {self.name} did not start") from None
        worker.init_ms = float(ready.get("initMs", 0.0))
        total_ms = (time.monotonic() - began) * 1000
        self.console.tagged(
            self.name,
            f"cold start: worker {number} (pid {process.pid}) ready in {total_ms:.0f} ms "
            f"(init {worker.init_ms:.0f} ms); {self._count} of {self.concurrency} workers",
        )
        return worker

    def _environment(self) -> dict[str, str]:
        function = self.function
        env = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
        env.update(self.sandbox.environment)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime or 'python'}",
                "LAMBDA_TASK_ROOT": self.sandbox.paths[0],
                "_HANDLER": function.handler,
            }
        )
        env.update(function.environment)
        return env

    async def _stream_logs(self, process: asyncio.subprocess.Process) -> None:
        """Forward the worker's stderr; lines the bootstrap did not tag get the name."""
        assert process.stderr is not None
        own_tag = f"[{self.name} "
        while line := await process.stderr.readline():
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text.startswith(own_tag):
                self.console.line(text)
            else:
                self.console.tagged(self.name, text)

    # -- stopping -----------------------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._all if w.process.returncode is None]

    async def close(self) -> None:
        async with self._freed:
            self._closed = True
            self._freed.notify_all()
            idle, self._idle = self._idle, []
        await asyncio.gather(*(w.stop() for w in idle))
        busy = [w for w in self._all if w.process.returncode is None]
        for worker in busy:  # still running an event while the stack stops
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGKILL)
        await asyncio.gather(*(w.kill() for w in busy))
        self._all.clear()
