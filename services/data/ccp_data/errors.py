"""The one place that maps errors to the API's error envelope.

Handlers raise the classes of ``ccp_shared.errors`` (or the two below) and never build error bodies
themselves. Every failure, including Starlette's own 404/405 and unexpected exceptions, answers
``{"type": "error", "error": {"type": ..., "message": ...}}`` — the same shape proxy-core and the
Anthropic API use — so clients need one parser.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ccp_shared.error_responses import error_response
from ccp_shared.errors import ApiError, InternalError, Timeout, routing_error

log = logging.getLogger("ccp_data")


class QueryTimeout(Timeout):
    """A read ran past its time limit and was interrupted."""


class DatabaseUnavailable(ApiError):
    """The database cannot be read (missing, locked past the timeout, corrupt)."""

    status = 503
    error_type = "api_error"


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = routing_error(
        exc.status_code, request.method, request.url.path, str(exc.detail), service="proxy-data"
    )
    return error_response(error, exc.headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (Starlette re-raises to the server after this response);
    # the client only learns that it was our fault.
    log.error("unhandled error on %s %s: %r", request.method, request.url.path, exc)
    return error_response(InternalError("internal error in proxy-data; see its log"))


EXCEPTION_HANDLERS = {
    ApiError: api_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
