from __future__ import annotations

import orjson
import pytest

from ccp_core.errors import (
    ApiError,
    BodyTooLarge,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    UpstreamTimeout,
    UpstreamUnreachable,
    error_body,
    error_response,
)


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequest("x"), 400, "invalid_request_error"),
        (BodyTooLarge("x"), 413, "request_too_large"),
        (NotFound("x"), 404, "not_found_error"),
        (MethodNotAllowed("x"), 405, "invalid_request_error"),
        (UpstreamUnreachable("x"), 502, "api_error"),
        (UpstreamTimeout("x"), 504, "timeout_error"),
    ],
)
def test_each_error_has_its_status_and_anthropic_type(
    error: ApiError, status: int, kind: str
) -> None:
    response = error_response(error)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.body) == {
        "type": "error",
        "error": {"type": kind, "message": "x"},
    }


def test_error_body_is_the_anthropic_envelope() -> None:
    assert orjson.loads(error_body("api_error", "boom")) == {
        "type": "error",
        "error": {"type": "api_error", "message": "boom"},
    }
