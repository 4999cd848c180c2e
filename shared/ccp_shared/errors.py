"""The error vocabulary both services answer in: Anthropic's ``{"type": "error", ...}`` envelope.

Each class carries its HTTP status and Anthropic error type, so raising code never picks a status
or builds a body itself. Nothing here knows a web framework: proxy-core writes these bodies on its
raw ASGI path, and each service wires its own Starlette handlers around them.
"""

from __future__ import annotations

import orjson

# Anthropic error types by status, for failures raised by the framework rather than by us.
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}


class ApiError(Exception):
    """A failure answered with ``{"type": "error", "error": {"type", "message"}}``."""

    status = 500
    error_type = "api_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ApiError):
    status = 400
    error_type = "invalid_request_error"


class NotFound(ApiError):
    status = 404
    error_type = "not_found_error"


class MethodNotAllowed(ApiError):
    status = 405
    error_type = "invalid_request_error"


class BodyTooLarge(ApiError):
    status = 413
    error_type = "request_too_large"


class InternalError(ApiError):
    status = 500
    error_type = "api_error"


class Timeout(ApiError):
    """Something we waited on (an upstream, a query) ran past its time limit."""

    status = 504
    error_type = "timeout_error"


def error_body(error_type: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})


def routing_error(status: int, method: str, path: str, detail: str, *, service: str) -> ApiError:
    """A failure the router raised itself (unknown path, wrong method) in our vocabulary."""
    if status == 404:
        return NotFound(f"{method} {path} is not an endpoint of {service}")
    if status == 405:
        return MethodNotAllowed(f"{method} is not allowed on {path}")
    error = ApiError(detail)
    error.status = status
    error.error_type = _TYPE_BY_STATUS.get(
        status, "invalid_request_error" if status < 500 else "api_error"
    )
    return error
