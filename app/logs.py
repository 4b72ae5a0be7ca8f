"""Structured logs: one JSON object per line. Callers pass fields via extra={"fields": {...}}."""

from __future__ import annotations

import logging
import sys
import time

import orjson


class JsonFormatter(logging.Formatter):
    """Render a record as JSON (never with message bodies or secrets: callers keep them out)."""

    def format(self, record: logging.LogRecord) -> str:
        """One line per record."""
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def setup_logging(level: str = "INFO") -> None:
    """Send every log record to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log puts the request line in the log; our tokens never travel in URLs,
    # but pairing tokens do, so keep the access log at WARNING.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
