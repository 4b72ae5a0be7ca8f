"""Domain errors. Each carries a snake_case code and an HTTP status; one middleware maps them."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base: a client-facing error with a stable code and an English developer message."""

    status = 400
    code = "bad_request"
    retryable = False

    def __init__(self, message: str = "", *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message or self.code)
        if code is not None:
            self.code = code
        self.message = message or self.code.replace("_", " ")
        self.extra = extra


class Invalid(AppError):
    """The request is malformed or a field is wrong."""

    status = 400
    code = "invalid_request"


class Unauthorized(AppError):
    """No valid credentials."""

    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    """Authenticated, but not allowed."""

    status = 403
    code = "forbidden"


class NotFound(AppError):
    """Missing, or belongs to another tenant (the two answer the same)."""

    status = 404
    code = "not_found"


class Conflict(AppError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class Gone(AppError):
    """A cursor that can no longer be served."""

    status = 410
    code = "resync_required"


class RateLimited(AppError):
    """Too many attempts; `retry_after` seconds."""

    status = 429
    code = "rate_limited"
    retryable = True
