from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ccp_shared.records import STATUS_UPSTREAM_ERROR
from tests.support.data_app import data_client, roll_up
from tests.support.usage import usage_record, write

HOUR = 3600


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    now = time.time()
    write(
        data_dir / "ccp.db",
        [
            usage_record(now - 60, input_tokens=1_000_000, output_tokens=0, ttft_ms=200.0),
            usage_record(now - 120, status=STATUS_UPSTREAM_ERROR, ttft_ms=None),
            usage_record(now - 3 * HOUR, model="claude-haiku-4-5", provider="anthropic"),
            usage_record(now - 3 * HOUR, model="glm-4.6", provider="zai"),
            usage_record(now - 3 * 86400, model="claude-haiku-4-5"),  # outside the default 24 h
        ],
    )
    roll_up(data_dir / "ccp.db")
    with data_client(data_dir) as client:
        yield client


def test_stats_totals_over_the_default_day(client: TestClient) -> None:
    body = client.get("/api/stats").json()
    totals = body["totals"]
    assert totals["requests"] == 4
    assert totals["errors"] == 1
    assert totals["input_tokens"] == 1_000_000 + 3 * 100
    assert totals["cost_known"] is False  # glm-4.6 has no price
    assert totals["cost_unknown_requests"] == 1
    sonnet_error, haiku = 100 * 3 + 50 * 15, 100 * 1 + 50 * 5
    assert totals["cost_usd"] == pytest.approx(3.0 + (sonnet_error + haiku) / 1e6)
    assert set(body["providers"]) == {"anthropic", "zai"}
    assert body["providers"]["zai"]["cost_usd"] is None
    assert body["range"]["since"] % HOUR == 0 and body["range"]["until"] % HOUR == 0


def test_stats_filters_and_a_range_of_days(client: TestClient) -> None:
    assert client.get("/api/stats?provider=zai").json()["totals"]["requests"] == 1
    assert client.get("/api/stats?model=claude-haiku-4-5").json()["totals"]["requests"] == 1
    week = client.get("/api/stats?since=7d").json()["totals"]
    assert week["requests"] == 5


def test_hourly_series_has_every_hour_and_the_traffic(client: TestClient) -> None:
    body = client.get("/api/stats/hourly?since=6h").json()
    series = body["series"]
    assert body["granularity"] == "hour"
    assert len(series) in (6, 7)
    starts = [p["window_start"] for p in series]
    assert starts == sorted(starts) and all(b - a == HOUR for a, b in itertools.pairwise(starts))
    assert sum(p["requests"] for p in series) == 4
    busy = [p for p in series if p["requests"]]
    assert all(p["ttft_ms"]["p50"] is not None for p in busy)


def test_thirty_days_hourly_is_one_point_per_hour(client: TestClient) -> None:
    series = client.get("/api/stats/hourly?since=30d").json()["series"]
    assert 720 <= len(series) <= 721
    assert sum(p["requests"] for p in series) == 5
    days = client.get("/api/stats/hourly?since=30d&granularity=day").json()["series"]
    assert 30 <= len(days) <= 31 and sum(p["requests"] for p in days) == 5


def test_models_are_ranked_and_marked_priced(client: TestClient) -> None:
    models = client.get("/api/stats/models").json()["models"]
    assert models[0]["model"] == "claude-sonnet-4-5" and models[0]["requests"] == 2
    priced = {m["model"]: m["priced"] for m in models}
    assert priced == {"claude-sonnet-4-5": True, "claude-haiku-4-5": True, "glm-4.6": False}


@pytest.mark.parametrize(
    "query",
    [
        "/api/stats?since=yesterday",
        "/api/stats?since=2h&until=3h",
        "/api/stats/hourly?granularity=minute",
        "/api/stats/hourly?since=0",  # half a million hours
        "/api/stats/models?until=not-a-date",
        "/api/stats?since=" + "9" * 400 + "w",  # inf seconds ago
        "/api/stats/models?since=" + "9" * 400 + "w",
        "/api/stats?since=99999999999w",  # before 1970
        "/api/stats?since=2999-01-01",  # after until, which is now when not given
        "/api/stats/hourly?since=2999-01-01",
        "/v1/usage?since=2999-01-01",
    ],
)
def test_bad_parameters_are_400_in_the_envelope(client: TestClient, query: str) -> None:
    response = client.get(query)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "path",
    ["/api/stats/", "/api/requests/", "/v1/usage/", "/api/conversations/search/", "/health/"],
)
def test_a_trailing_slash_is_another_path_answered_404_not_redirected(
    client: TestClient, path: str
) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
