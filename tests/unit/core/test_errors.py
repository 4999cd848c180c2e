from __future__ import annotations

import orjson
import pytest

from ccp_core.errors import ApiError, UpstreamTimeout, UpstreamUnreachable
from ccp_shared.error_responses import error_response


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (UpstreamUnreachable("x"), 502, "api_error"),
        (UpstreamTimeout("x"), 504, "timeout_error"),
    ],
)
def test_each_upstream_error_has_its_status_and_anthropic_type(
    error: ApiError, status: int, kind: str
) -> None:
    response = error_response(error)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.body) == {
        "type": "error",
        "error": {"type": kind, "message": "x"},
    }
