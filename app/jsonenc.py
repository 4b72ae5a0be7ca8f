"""The one JSON encoder of the server (orjson), shared by frames, API answers and error bodies."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(obj: Any) -> bytes:
    """Serialize to compact JSON bytes (orjson everywhere on the server)."""
    return orjson.dumps(obj)
