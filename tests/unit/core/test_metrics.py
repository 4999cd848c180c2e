from __future__ import annotations

from ccp_core.metrics import MAX_MODEL_LABEL_LENGTH, MAX_MODEL_LABELS, Histogram, Metrics


def test_histogram_buckets_are_cumulative() -> None:
    histogram = Histogram((0.1, 1.0))
    for value in (0.05, 0.5, 0.7, 5.0):
        histogram.observe(value)
    assert histogram.render("h") == [
        'h_bucket{le="0.1"} 1',
        'h_bucket{le="1.0"} 3',
        'h_bucket{le="+Inf"} 4',
        "h_sum 6.25",
        "h_count 4",
    ]


def test_render_has_requests_in_flight_and_recorder_figures() -> None:
    metrics = Metrics()
    metrics.count_request("ok", "claude-opus-5-5")
    metrics.count_request("ok", "claude-opus-5-5")
    metrics.count_request("proxy_error", None)
    metrics.in_flight = 3
    text = metrics.render({"queue_depth": 4, "written": 10, "spool_pending": 2, "write_errors": 1})
    assert 'ccp_core_requests_total{status="ok",model="claude-opus-5-5"} 2' in text
    assert 'ccp_core_requests_total{status="proxy_error",model="unknown"} 1' in text
    assert "ccp_core_in_flight 3" in text
    assert "ccp_core_recorder_queue_depth 4" in text
    assert "ccp_core_recorder_written_total 10" in text
    assert "ccp_core_recorder_spool_pending 2" in text
    assert "ccp_core_recorder_write_errors_total 1" in text
    assert "# TYPE ccp_core_ttft_seconds histogram" in text


def test_label_values_are_escaped_and_bounded() -> None:
    metrics = Metrics()
    metrics.count_request("ok", 'we"ird\\model\n')
    for i in range(MAX_MODEL_LABELS + 5):
        metrics.count_request("ok", f"m{i}")
    text = metrics.render({})
    assert 'model="we\\"ird\\\\model\\n"' in text
    assert 'model="other"} 6' in text


def test_a_model_name_longer_than_any_real_one_is_counted_as_other() -> None:
    metrics = Metrics()
    metrics.count_request("ok", "m" * MAX_MODEL_LABEL_LENGTH)
    metrics.count_request("proxy_error", "x" * 5_000_000)
    text = metrics.render({})
    assert f'model="{"m" * MAX_MODEL_LABEL_LENGTH}"}} 1' in text
    assert 'ccp_core_requests_total{status="proxy_error",model="other"} 1' in text
    assert len(text) < 10_000
