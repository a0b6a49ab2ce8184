"""Structured JSON logs tagged with the request id.

A tiny formatter instead of a logging framework: it costs nothing at cold start
and prints one JSON object per line, which CloudWatch Logs Insights and the local
stack's console both read. Fields whose names look secret are masked, so a careless
``extra={...}`` can never put a password or a token into the logs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_SECRET_MARKERS = ("password", "secret", "token", "authorization", "passcode", "ticket")
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


def _is_secret(key: str) -> bool:
    lowered = key.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line with level, logger, request id and extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "requestId": request_id_var.get(),
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            entry[key] = "***" if _is_secret(key) else value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", service: str | None = None) -> None:
    """Install the JSON formatter on the root logger once per process."""
    root = logging.getLogger()
    name = service or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "chatflow")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(name))
    root.handlers[:] = [handler]
    root.setLevel(level)
