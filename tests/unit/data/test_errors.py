"""Every error, whoever raises it, leaves in the one envelope with the right status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from ccp_data.errors import EXCEPTION_HANDLERS, DatabaseUnavailable, QueryTimeout
from ccp_shared.errors import InvalidRequest, NotFound


async def bad(request: Request) -> Response:
    raise InvalidRequest("limit: expected an integer")


async def missing(request: Request) -> Response:
    raise NotFound("no request abc")


async def slow(request: Request) -> Response:
    raise QueryTimeout("too slow")


async def down(request: Request) -> Response:
    raise DatabaseUnavailable("database gone")


async def bug(request: Request) -> Response:
    raise RuntimeError("secret internals /home/user/traceback")


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = Starlette(
        routes=[
            Route("/bad", bad),
            Route("/missing", missing),
            Route("/slow", slow),
            Route("/down", down),
            Route("/bug", bug),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "status", "error_type"),
    [
        ("GET", "/bad", 400, "invalid_request_error"),
        ("GET", "/missing", 404, "not_found_error"),
        ("GET", "/slow", 504, "timeout_error"),
        ("GET", "/down", 503, "api_error"),
        ("GET", "/bug", 500, "api_error"),
        ("GET", "/no/such/route", 404, "not_found_error"),
        ("DELETE", "/bad", 405, "invalid_request_error"),
    ],
)
def test_the_envelope(
    client: TestClient, method: str, path: str, status: int, error_type: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_unexpected_errors_hide_their_details(client: TestClient) -> None:
    body = client.get("/bug").json()
    assert "secret" not in body["error"]["message"]
    assert "Traceback" not in client.get("/bug").text


def test_405_keeps_the_allow_header(client: TestClient) -> None:
    assert set(client.delete("/bad").headers["allow"].split(", ")) == {"GET", "HEAD"}
