"""Structured logs: one line per event, JSON (`--log-format json`) or plain text.

Callers pass fields via extra={"fields": {...}}, never message bodies or secrets. The request id
of the HTTP request being handled and the id of the socket a handler serves are added to every
line logged while they are current (context variables: each request runs in its own task).
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar

import orjson

FORMATS = ("text", "json")
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
CONN_ID: ContextVar[str | None] = ContextVar("conn_id", default=None)


def _fields(record: logging.LogRecord) -> dict[str, object]:
    out: dict[str, object] = {}
    request_id = REQUEST_ID.get()
    if request_id is not None:
        out["request_id"] = request_id
    conn = CONN_ID.get()
    if conn is not None:
        out["conn"] = conn
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict):
        out.update(fields)
    return out


def _ts(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        """One line per record."""
        out: dict[str, object] = {
            "ts": _ts(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """`ts level logger message key=value ...` on one line (a traceback follows, indented)."""

    def format(self, record: logging.LogRecord) -> str:
        """One line per record; newlines inside values are escaped so a line stays one event."""
        parts = [_ts(record), record.levelname, record.name, _one_line(record.getMessage())]
        parts += [f"{k}={_one_line(str(v))}" for k, v in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n  " + self.formatException(record.exc_info).replace("\n", "\n  ")
        return line


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send every log record to stderr, one line each, as JSON or text."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log puts the request line in the log; our tokens never travel in URLs,
    # but pairing tokens do, so keep the access log at WARNING.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
