"""proxy-core's errors: the shared vocabulary plus the upstream failures only a gateway has.

The classes carry their HTTP status and Anthropic error type (``ccp_shared.errors``;
``ccp_shared.error_responses`` turns them into responses). This module adds the two upstream
failures and the mapping of Starlette's own routing failures.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request

from ccp_shared.errors import (
    ApiError,
    BodyTooLarge,
    InvalidRequest,
    NotFound,
    Timeout,
    error_body,
    routing_error,
)

# The shared classes proxy-core's modules raise, importable from here as they always were.
__all__ = [
    "ApiError",
    "BodyTooLarge",
    "InvalidRequest",
    "NotFound",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "error_body",
    "from_http_exception",
]


class UpstreamUnreachable(ApiError):
    status = 502
    error_type = "api_error"


class UpstreamTimeout(Timeout):
    """The provider did not answer within the connect or idle timeout."""


def from_http_exception(exc: HTTPException, request: Request) -> ApiError:
    """Starlette's own routing failures (unknown path, wrong method) in our vocabulary."""
    return routing_error(
        exc.status_code, request.method, request.url.path, str(exc.detail), service="proxy-core"
    )
