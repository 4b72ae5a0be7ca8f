"""The `hello` frame, validated whole before anything reads it (docs/protocol-additions.md).

Shapes are checked, names are open: a field of the wrong JSON type refuses the connection with
4500 (the client is broken and must not reconnect in a loop; a token, 4501), while values a newer client may
legitimately send (unknown feature names, extra keys) are ignored. Nothing a client sends here
can raise past this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.realtime import const

# A seq SQLite can hold; a bigger "seq" is no cursor any stream ever gave out.
MAX_SEQ = 2**63 - 1


class Refused(Exception):
    """The hello phase ends the connection with this close code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Hello:
    """What a valid hello asks for."""

    token: str | None  # None: authenticate with the upgrade request's session cookie
    epoch: str | None  # with `since`: the resume cursor; both None on a first connection
    since: int | None
    features: tuple[str, ...]  # the asked-for features this server supports, sorted


def _is_int(value: object) -> bool:
    # JSON true/false arrive as bool, a subclass of int: never a number here.
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(message: str) -> Refused:
    return Refused(const.CLOSE_BAD_FRAME, message)


def _version(frame: dict[str, Any]) -> None:
    v = frame.get("v")
    if v is None:  # absent (or null, like every optional field): this version
        return
    if not _is_int(v):
        raise _bad("v must be an integer")
    if v != const.PROTOCOL_VERSION:
        raise Refused(const.CLOSE_UNSUPPORTED_VERSION, "unsupported protocol version")


def _token(frame: dict[str, Any]) -> str | None:
    token = frame.get("token")
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        # A credential that cannot be one is refused as credentials are (4501), so a client
        # sends its user back to log in rather than stopping as for a malformed frame.
        raise Refused(const.CLOSE_UNAUTHORIZED, "token must be a string")
    return token


def _resume(frame: dict[str, Any]) -> tuple[str | None, int | None]:
    resume = frame.get("resume")
    if resume is None:
        return None, None
    if not isinstance(resume, dict):
        raise _bad("resume must be {epoch: string, seq: int >= 0}")
    epoch, seq = resume.get("epoch"), resume.get("seq")
    if not isinstance(epoch, str) or not _is_int(seq) or not 0 <= seq <= MAX_SEQ:
        raise _bad("resume must be {epoch: string, seq: int >= 0}")
    return epoch, seq


def _features(frame: dict[str, Any]) -> tuple[str, ...]:
    asked = frame.get("features")
    if asked is None:
        return ()
    if not isinstance(asked, list) or not all(isinstance(f, str) for f in asked):
        raise _bad("features must be a list of strings")
    # Unknown names are a newer client's opt-ins: not granted, not an error.
    return tuple(sorted({f for f in asked if f in const.SUPPORTED_FEATURES}))


def parse_hello(frame: dict[str, Any]) -> Hello:
    """Validate a client's first frame (already an object with a string `type`) or raise Refused."""
    if frame["type"] != "hello":
        raise _bad("the first frame must be hello")
    _version(frame)
    token = _token(frame)
    epoch, since = _resume(frame)
    return Hello(token=token, epoch=epoch, since=since, features=_features(frame))
