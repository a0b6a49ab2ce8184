"""The worker process of one local Lambda function: the role of Lambda's runtime bootstrap.

Started by :mod:`local.workers` as ``python -I -S -u bootstrap.py CONFIG``: isolated mode
without ``site`` means nothing from the developer's virtualenv is importable, only the
standard library and the folders in CONFIG (the function code, the dependency layer and the
AWS SDK that Lambda's Python runtime ships), so a missing layer dependency fails here as it
would on AWS. This file therefore imports nothing but the standard library.

Protocol on stdin/stdout: frames of a 4-byte big-endian length and a JSON document. The
worker first sends ``{"type": "ready", "initMs": ...}`` (after importing the handler: the
init phase), then answers each ``{"requestId", "event", "deadlineMs"}`` with
``{"type": "result", ...}``, one event at a time, until stdin closes. The handler's own
output (print, logging) goes to stderr, each line tagged ``[function-name request-id]``.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import resource
import signal
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO

_HEADER = struct.Struct(">I")
FAULT_PREFIX = b"chatflow-fault:"


class _TaggedStream(io.TextIOBase):
    """A text stream that writes whole lines to fd 2, each prefixed with the request id."""

    def __init__(self, name: str, state: dict[str, str]) -> None:
        super().__init__()
        self._name = name
        self._state = state
        self._pending = ""

    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 2

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            *lines, self._pending = self._pending.split("\n")
            self._emit(lines)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            lines, self._pending = [self._pending], ""
            self._emit(lines)

    def _emit(self, lines: list[str]) -> None:
        tag = f"[{self._name} {self._state['requestId']}] "
        data = "".join(tag + line + "\n" for line in lines)
        os.write(2, data.encode("utf-8", "replace"))


class _Context:
    """The attributes of the Python runtime's context object."""

    def __init__(self, config: dict[str, Any], request_id: str, deadline_ms: int) -> None:
        name = config["functionName"]
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = config["functionArn"]
        self.memory_limit_in_mb = int(config["memorySize"])
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = f"local/[$LATEST]{os.getpid()}"
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _read(stream: BinaryIO) -> dict[str, Any] | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    message: dict[str, Any] = json.loads(stream.read(size))
    return message


def _write(stream: BinaryIO, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode()
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _error(exc: BaseException) -> dict[str, Any]:
    """The error document Lambda returns for an unhandled exception."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _inject_fault(raw: bytes, timeout: int) -> None:
    """With fault injection on, an event carrying ``chatflow-fault:KIND`` misbehaves."""
    at = raw.find(FAULT_PREFIX)
    if at < 0:
        return
    kind = raw[at + len(FAULT_PREFIX) :][:5]
    if kind == b"crash":
        os._exit(70)  # the process dies mid-event
    if kind.startswith(b"hang"):
        time.sleep(timeout + 5)
    if kind == b"raise":
        raise RuntimeError("fault injected by the local stack (chatflow-fault:raise)")


def main() -> None:
    config: dict[str, Any] = json.loads(sys.argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the gateway's to handle
    requests: BinaryIO = sys.stdin.buffer
    results: BinaryIO = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything written to fd 1 from now on is log output
    state = {"requestId": "init"}
    sys.stdout = sys.stderr = _TaggedStream(config["functionName"], state)
    sys.path[:0] = config["paths"]
    os.chdir(config["paths"][0])  # LAMBDA_TASK_ROOT is the working directory on Lambda

    started = time.monotonic()
    handler = None
    init_error: dict[str, Any] | None = None
    try:
        module_name, _, attribute = config["handler"].rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:
        init_error = _error(exc)
        traceback.print_exc()
    init_ms = (time.monotonic() - started) * 1000
    _write(results, {"type": "ready", "initMs": round(init_ms, 2), "error": init_error})

    while (message := _read(requests)) is not None:
        state["requestId"] = request_id = message["requestId"]
        began = time.monotonic()
        reply: dict[str, Any] = {"type": "result", "requestId": request_id}
        try:
            if handler is None:
                raise RuntimeError(f"the handler could not be loaded: {init_error}")
            if config.get("faults"):
                _inject_fault(json.dumps(message["event"]).encode(), int(config["timeout"]))
            event = message["event"]
            context = _Context(config, request_id, int(message["deadlineMs"]))
            reply["payload"] = handler(event, context)
            reply["ok"] = True
        except Exception as exc:
            error = _error(exc)
            print(f"[ERROR] {error['errorType']}: {error['errorMessage']}")
            traceback.print_exc()
            reply.update(ok=False, error=error)
        sys.stdout.flush()
        reply["durationMs"] = round((time.monotonic() - began) * 1000, 2)
        reply["maxMemoryMb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        try:
            _write(results, reply)
        except (TypeError, ValueError) as exc:  # a result that JSON cannot encode
            _write(results, {**reply, "ok": False, "payload": None, "error": _error(exc)})
        state["requestId"] = "-"


if __name__ == "__main__":
    main()
