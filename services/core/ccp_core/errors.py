"""The one place where failures become Anthropic-shaped error responses.

Each error class carries its HTTP status and Anthropic error type, so raising code never picks a
status or builds a body itself: ``error_body`` and ``error_response`` do that for every endpoint.
"""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response


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


class BodyTooLarge(ApiError):
    status = 413
    error_type = "request_too_large"


class NotFound(ApiError):
    status = 404
    error_type = "not_found_error"


class MethodNotAllowed(ApiError):
    status = 405
    error_type = "invalid_request_error"


class UpstreamUnreachable(ApiError):
    status = 502
    error_type = "api_error"


class UpstreamTimeout(ApiError):
    status = 504
    error_type = "timeout_error"


class InternalError(ApiError):
    status = 500
    error_type = "api_error"


def error_body(error_type: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})


def error_response(exc: ApiError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        error_body(exc.error_type, exc.message),
        status_code=exc.status,
        headers=headers,
        media_type="application/json",
    )


def from_http_exception(exc: HTTPException, request: Request) -> ApiError:
    """Starlette's own routing failures (unknown path, wrong method) in our vocabulary."""
    if exc.status_code == 404:
        return NotFound(f"{request.method} {request.url.path} is not an endpoint of proxy-core")
    if exc.status_code == 405:
        return MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    error = ApiError(str(exc.detail))
    error.status = exc.status_code
    error.error_type = "invalid_request_error" if exc.status_code < 500 else "api_error"
    return error
