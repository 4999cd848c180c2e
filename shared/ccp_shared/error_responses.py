"""``ApiError`` as a Starlette response, for the exception handlers of both services.

Kept apart from ``ccp_shared.errors`` so the error vocabulary itself stays free of a web framework.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from ccp_shared.errors import ApiError, error_body


def error_response(exc: ApiError, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        error_body(exc.error_type, exc.message),
        status_code=exc.status,
        headers=headers,
        media_type="application/json",
    )
