from __future__ import annotations

import orjson
import pytest

from ccp_shared.error_responses import error_response
from ccp_shared.errors import (
    ApiError,
    BodyTooLarge,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    Timeout,
    error_body,
    routing_error,
)


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequest("x"), 400, "invalid_request_error"),
        (NotFound("x"), 404, "not_found_error"),
        (MethodNotAllowed("x"), 405, "invalid_request_error"),
        (BodyTooLarge("x"), 413, "request_too_large"),
        (InternalError("x"), 500, "api_error"),
        (Timeout("x"), 504, "timeout_error"),
    ],
)
def test_each_class_answers_its_status_in_the_envelope(
    error: ApiError, status: int, kind: str
) -> None:
    response = error_response(error, {"x-extra": "1"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-extra"] == "1"
    assert orjson.loads(response.body) == {"type": "error", "error": {"type": kind, "message": "x"}}


def test_error_body_is_the_anthropic_envelope() -> None:
    assert orjson.loads(error_body("api_error", "boom")) == {
        "type": "error",
        "error": {"type": "api_error", "message": "boom"},
    }


def test_routing_errors_name_the_service_and_path() -> None:
    missing = routing_error(404, "GET", "/nope", "Not Found", service="proxy-x")
    assert isinstance(missing, NotFound)
    assert missing.message == "GET /nope is not an endpoint of proxy-x"
    wrong = routing_error(405, "DELETE", "/v1/messages", "Method Not Allowed", service="proxy-x")
    assert isinstance(wrong, MethodNotAllowed)
    assert "DELETE" in wrong.message and "/v1/messages" in wrong.message


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, "authentication_error"),
        (418, "invalid_request_error"),
        (503, "overloaded_error"),
        (500, "api_error"),
    ],
)
def test_other_router_statuses_keep_their_status_with_a_typed_error(status: int, kind: str) -> None:
    error = routing_error(status, "GET", "/", "detail", service="proxy-x")
    assert (error.status, error.error_type, error.message) == (status, kind, "detail")
    # The class attribute is untouched: only this instance carries the router's status.
    assert ApiError.status == 500
