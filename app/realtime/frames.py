"""Pure frame builders: the only place server frames are shaped (PROTOCOL §3.1)."""

from __future__ import annotations

import struct
from typing import Any

from app.jsonenc import dumps

_LEN2 = struct.Struct("!BBH").pack
_LEN3 = struct.Struct("!BBQ").pack
_TEXT_FIN = 0x81


def event_frame(seq: int | None, wire: str, data_json: bytes, ts: int) -> bytes:
    """An `event` frame around already-serialized data, without parsing it again."""
    seq_part = b"null" if seq is None else str(seq).encode()
    return b"".join(
        (
            b'{"type":"event","seq":', seq_part, b',"event":"', wire.encode(), b'","data":',
            data_json, b',"ts":', str(ts).encode(), b"}",
        )
    )


_EVENT_NAME_AT = b',"event":"'
_DATA_AT = b'","data":'
_TS_AT = b',"ts":'


def event_parts(frame: bytes) -> tuple[str, bytes]:
    """The wire name and the data JSON of an `event_frame`, sliced out without parsing.

    Relies on event_frame's fixed layout: the name cannot hold a quote and `ts` comes last.
    """
    start = frame.index(_EVENT_NAME_AT) + len(_EVENT_NAME_AT)
    end = frame.index(_DATA_AT, start)
    return frame[start:end].decode(), frame[end + len(_DATA_AT):frame.rindex(_TS_AT)]


def welcome_frame(
    *, conn_id: str, epoch: str, head: int, resume: str, ping_interval: float,
    pong_timeout: float, features: list[str], user: dict[str, Any], max_frame: int,
    feature_level: int,
) -> bytes:
    """The first server frame after a valid hello."""
    return dumps(
        {
            "type": "welcome", "v": 1, "feature_level": feature_level, "conn": conn_id,
            "epoch": epoch, "head": head, "resume": resume, "ping_interval": ping_interval,
            "pong_timeout": pong_timeout, "max_frame": max_frame, "features": features,
            "user": user,
        }
    )


def replay_end_frame(seq: int) -> bytes:
    """Marks the end of a replay: everything after this is live."""
    return b'{"type":"replay_end","seq":' + str(seq).encode() + b"}"


def result_frame(call_id: int, data: Any) -> bytes:
    """A successful answer to a call."""
    return dumps({"type": "result", "id": call_id, "ok": True, "data": data})


def result_error_frame(call_id: int | None, code: str, message: str, retryable: bool) -> bytes:
    """A failed answer to a call."""
    return dumps(
        {
            "type": "result", "id": call_id, "ok": False,
            "error": {"code": code, "message": message, "retryable": retryable},
        }
    )


def error_frame(code: str, message: str) -> bytes:
    """A connection-level error, sent before a 45xx close and for bad frames."""
    return dumps({"type": "error", "error": {"code": code, "message": message}})


PING_FRAME = b'{"type":"ping"}'


def batch_message(frames: list[bytes]) -> bytes:
    """Several frames as one JSON array (the opt-in `batch` feature)."""
    return b"[" + b",".join(frames) + b"]"


def ws_text(payload: bytes) -> bytes:
    """Wrap a payload in an unmasked, final WebSocket text frame (RFC 6455 §5.2).

    Server frames are never masked and we never compress, so the header depends only on the
    length: an event's wire bytes are built once and written to every socket as they are.
    """
    n = len(payload)
    if n < 126:
        return bytes((_TEXT_FIN, n)) + payload
    if n < 65536:
        return _LEN2(_TEXT_FIN, 126, n) + payload
    return _LEN3(_TEXT_FIN, 127, n) + payload
