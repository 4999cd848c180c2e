"""The one place that maps errors to the API's error envelope.

Exceptions carry their HTTP status and error type on the class; handlers raise them and never build
error bodies themselves. Every failure, including Starlette's own 404/405 and unexpected
exceptions, answers ``{"type": "error", "error": {"type": ..., "message": ...}}`` — the same shape
proxy-core and the Anthropic API use — so clients need one parser.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ccp_data.jsonresponse import ORJSONResponse

log = logging.getLogger("ccp_data")

# Error types of the Anthropic API, chosen by status for errors Starlette raises itself.
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
    """Base of the errors handlers raise; subclasses set ``status_code`` and ``error_type``."""

    status_code = 500
    error_type = "api_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status_code = 400
    error_type = "invalid_request_error"


class NotFound(ApiError):
    status_code = 404
    error_type = "not_found_error"


class QueryTimeout(ApiError):
    """A read ran past its time limit and was interrupted."""

    status_code = 504
    error_type = "timeout_error"


class DatabaseUnavailable(ApiError):
    """The database cannot be read (missing, locked past the timeout, corrupt)."""

    status_code = 503
    error_type = "api_error"


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def error_response(
    status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return ORJSONResponse(error_body(error_type, message), status_code=status, headers=headers)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.error_type, exc.message)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed for {request.url.path}"
    else:
        message = str(exc.detail)
    error_type = _TYPE_BY_STATUS.get(exc.status_code, "api_error")
    return error_response(exc.status_code, error_type, message, exc.headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (Starlette re-raises to the server after this response);
    # the client only learns that it was our fault.
    log.error("unhandled error on %s %s: %r", request.method, request.url.path, exc)
    return error_response(500, "api_error", "internal error in proxy-data; see its log")


EXCEPTION_HANDLERS = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
