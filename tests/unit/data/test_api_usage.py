from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.data_app import data_client, roll_up
from tests.support.usage import usage_record, write


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    now = time.time()
    write(
        data_dir / "ccp.db",
        [
            usage_record(now - 100, input_tokens=10, output_tokens=20),
            usage_record(now - 50, input_tokens=30, output_tokens=40),
            usage_record(now - 40, model="claude-haiku-4-5", input_tokens=1, output_tokens=2),
            usage_record(now - 30, path="/v1/messages/count_tokens"),
            usage_record(now - 2 * 86400, model="claude-haiku-4-5"),
        ],
    )
    roll_up(data_dir / "ccp.db")
    with data_client(data_dir) as client:
        yield client


def test_usage_totals_and_models(client: TestClient) -> None:
    body = client.get("/v1/usage").json()
    assert body["totals"]["requests"] == 3
    assert body["models"]["claude-sonnet-4-5"]["output_tokens"] == 60
    assert body["models"]["claude-haiku-4-5"]["requests"] == 1
    assert isinstance(body["ts"], float)


def test_requests_without_a_model_are_under_unknown(data_dir: Path) -> None:
    now = time.time()
    refused = usage_record(
        now - 60,
        model=None,
        provider=None,
        status="proxy_error",
        http_status=400,
        input_tokens=0,
        output_tokens=0,
    )
    unpriced = [
        usage_record(now - 50, model="glm-4.6", provider="zai"),
        usage_record(
            now - 40,
            model="glm-4.6",
            provider="zai",
            status="upstream_error",
            input_tokens=0,
            output_tokens=0,
        ),
    ]
    write(data_dir / "ccp.db", [refused, *unpriced])
    roll_up(data_dir / "ccp.db")
    with data_client(data_dir) as client:
        usage = client.get("/v1/usage").json()
        samples = client.get("/v1/usage/samples").json()
        rollups = client.get("/v1/usage/rollups").json()
        stats = client.get("/api/stats").json()
        models = client.get("/api/stats/models").json()
    assert set(usage["models"]) == set(samples["models"]) == set(rollups["models"])
    assert set(usage["models"]) == {"unknown", "glm-4.6"}
    assert set(stats["providers"]) == {"unknown", "zai"}
    assert {m["model"] for m in models["models"]} == {"unknown", "glm-4.6"}
    glm = next(m for m in models["models"] if m["model"] == "glm-4.6")
    for entry in (usage["models"]["glm-4.6"], glm, stats["providers"]["zai"]):
        assert (entry["cost_usd"], entry["cost_known"]) == (None, False)
    assert usage["models"]["unknown"]["cost_usd"] == 0.0  # nothing used tokens: known to be 0


def test_samples_are_grouped_by_model_oldest_first(client: TestClient) -> None:
    body = client.get("/v1/usage/samples?since=1h").json()
    sonnet = body["models"]["claude-sonnet-4-5"]
    assert [s["input_tokens"] for s in sonnet] == [10, 30]
    assert sonnet[0]["status"] == "ok" and sonnet[0]["ts"] < sonnet[1]["ts"]
    assert sonnet[0]["cost_usd"] == pytest.approx((10 * 3 + 20 * 15) / 1e6)
    assert body["truncated"] is False
    assert sum(len(v) for v in body["models"].values()) == 3  # count_tokens is not usage


def test_samples_limit_truncates(client: TestClient) -> None:
    body = client.get("/v1/usage/samples?since=1h&limit=2").json()
    assert sum(len(v) for v in body["models"].values()) == 2
    assert body["truncated"] is True
    assert body["last_ts"] == body["models"]["claude-sonnet-4-5"][-1]["ts"]


def test_rollups_by_hour_and_day(client: TestClient) -> None:
    hourly = client.get("/v1/usage/rollups?granularity=hour").json()
    assert hourly["granularity"] == "hour"
    [point] = hourly["models"]["claude-sonnet-4-5"]
    assert (point["count"], point["in_tokens"], point["out_tokens"]) == (2, 40, 60)
    assert point["window_start"] % 3600 == 0
    daily = client.get("/v1/usage/rollups?granularity=day&model=claude-haiku-4-5").json()
    assert list(daily["models"]) == ["claude-haiku-4-5"]
    assert sum(p["count"] for p in daily["models"]["claude-haiku-4-5"]) == 2


@pytest.mark.parametrize(
    "query",
    [
        "/v1/usage/rollups?granularity=week",
        "/v1/usage/samples?limit=0",
        "/v1/usage/samples?limit=10001",
        "/v1/usage/samples?since=garbage",
        "/v1/usage?until=1h&since=now",
        "/v1/usage?since=" + "9" * 400 + "w",  # inf seconds ago
        "/v1/usage/samples?since=" + "9" * 400 + "w",
    ],
)
def test_bad_parameters_are_400(client: TestClient, query: str) -> None:
    response = client.get(query)
    assert response.status_code == 400
    assert response.json()["type"] == "error"
