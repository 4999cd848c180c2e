"""The app end to end in one process: Starlette's TestClient in front, a real HTTP upstream behind.

TestClient buffers responses, so these tests check bytes, statuses, shapes and records; that
chunks are flushed as they arrive is proved against a real server in tests/integration.
"""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import orjson
import pytest
import zstandard
from pytest_httpserver import HTTPServer
from starlette.testclient import TestClient
from werkzeug import Response as WerkzeugResponse

from ccp_core.app import create_app
from ccp_shared.config import Config, load_config
from ccp_shared.records import RequestRecord
from tests.support.fake_recorder import FakeRecorder
from tests.support.fake_upstream import FakeUpstream, events_of, usage_for

HEADERS = {"x-api-key": "sk-ant-test-0000", "anthropic-version": "2023-06-01"}


def make_config(tmp_path: Path, base_url: str, **flags: Any) -> Config:
    environ = {"CCP_PROVIDERS__ANTHROPIC__BASE_URL": base_url, "DATA_DIR": str(tmp_path)}
    return load_config(flags=flags, environ=environ, config_file=None)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def recorder() -> FakeRecorder:
    return FakeRecorder()


@pytest.fixture
def client(tmp_path: Path, upstream: FakeUpstream, recorder: FakeRecorder) -> Iterator[TestClient]:
    app = create_app(make_config(tmp_path, upstream.url), recorder_factory=lambda _: recorder)
    with TestClient(app) as test_client:
        yield test_client
    assert recorder.stopped


def only_record(recorder: FakeRecorder) -> RequestRecord:
    assert len(recorder.records) == 1, recorder.records
    return recorder.records[0]


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    return dict(body["error"])


# -- bytes through -----------------------------------------------------------------------------


def test_fixture_body_reaches_upstream_byte_identical_with_query_and_headers(
    client: TestClient,
    upstream: FakeUpstream,
    recorder: FakeRecorder,
    first_turn_body: bytes,
    claude_code_headers: dict[str, str],
) -> None:
    response = client.post(
        "/v1/messages?beta=true", content=first_turn_body, headers=claude_code_headers
    )
    assert response.status_code == 200
    seen = upstream.requests[0]
    assert seen.body == first_turn_body
    assert seen.path == "/v1/messages?beta=true"
    for name, value in claude_code_headers.items():
        if name.lower() not in {"connection", "accept-encoding"}:
            assert seen.headers[name.lower()] == value, name
    # The client's Accept-Encoding goes upstream as it came (no encoding added or removed).
    assert seen.headers["accept-encoding"] == claude_code_headers["Accept-Encoding"]
    record = only_record(recorder)
    assert record.status == "ok" and record.stream is True
    assert record.request_body == first_turn_body
    assert record.request_bytes == len(first_turn_body)
    assert record.session_id == claude_code_headers["X-Claude-Code-Session-Id"]
    assert record.client == claude_code_headers["User-Agent"]
    assert record.query == "beta=true"
    assert record.model_requested == "claude-opus-5-5"
    # Raw headers go to the recorder, which masks them off the loop.
    assert record.request_headers["x-api-key"] == "sk-ant-test-0000"


def test_sse_comes_back_byte_identical_with_event_lines_and_usage_is_recorded(
    client: TestClient, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    body = b'{"model": "claude-opus-5-5", "stream": true, "max_tokens": 5, "messages": []}'
    response = client.post("/v1/messages", content=body, headers=HEADERS)
    names = [name for name, _ in events_of(response.content)]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert response.content.count(b"event: ") == len(names)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_fake_")
    assert response.headers["anthropic-ratelimit-requests-remaining"] == "3999"
    record = only_record(recorder)
    assert response.headers["ccp-request-id"] == record.id
    assert record.response_body == response.content
    assert record.response_bytes == len(response.content)
    usage = usage_for(body, upstream.events)
    assert record.input_tokens == usage["input_tokens"]
    assert record.output_tokens == usage["output_tokens"]
    assert record.cache_read_input_tokens == usage["cache_read_input_tokens"]
    assert record.cache_creation_input_tokens == usage["cache_creation_input_tokens"]
    assert record.cache_creation_5m_tokens == usage["cache_creation_input_tokens"]
    assert record.stop_reason == "end_turn"
    assert record.model == "claude-opus-5-5"
    assert record.ttft_ms is not None and record.duration_ms is not None
    assert 0 < record.ttft_ms <= record.duration_ms
    assert record.ts_end is not None and record.ts_end >= record.ts_start


def test_tool_session_capture_is_forwarded_unchanged(
    client: TestClient, upstream: FakeUpstream, fixtures_dir: Path
) -> None:
    captured = orjson.loads(next(fixtures_dir.glob("*tool_session.json")).read_bytes())
    for turn in captured:
        body = orjson.dumps(turn["body"])
        headers = {k: v for k, v in turn["headers"].items() if k not in {"content-length"}}
        response = client.post(turn["path"], content=body, headers=headers)
        assert response.status_code == 200
        seen = upstream.requests[-1]
        assert (seen.path, seen.body) == (turn["path"], body)
        for name, value in headers.items():
            if name not in {"connection", "host"}:
                assert seen.headers[name] == value, name


ODD_SSE = (
    b": comment lines, CRLF endings, id and retry fields all pass untouched\r\n"
    b"retry: 3000\r\n\r\n"
    b'id: 1\r\nevent: message_start\r\ndata: {"type": "message_start", "message": '
    b'{"model": "m", "usage": {"input_tokens": 3}}}\r\n\r\n'
    b'event: content_block_delta\r\ndata: {"type":"content_block_delta"}\r\n\r\n'
    b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":2}}\n\n'
)


def test_sse_bytes_are_relayed_exactly(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/messages").respond_with_response(
        WerkzeugResponse(ODD_SSE, headers={"content-type": "text/event-stream"})
    )
    recorder = FakeRecorder()
    app = create_app(make_config(tmp_path, httpserver.url_for("")), lambda _: recorder)
    with TestClient(app) as test_client:
        response = test_client.post("/v1/messages", content=b'{"model":"m","stream":true}')
    assert response.content == ODD_SSE
    record = only_record(recorder)
    assert (record.input_tokens, record.output_tokens) == (3, 2)


def test_schema_leniency_unknown_fields_and_roles_are_forwarded(
    client: TestClient, upstream: FakeUpstream
) -> None:
    body = (
        b'{"model":"claude-opus-5-5","messages":[{"role":"system","content":"x"},'
        b'{"role":"user","content":[{"type":"brand_new_block","z":1}]}],'
        b'"future_field":{"a":[1,2,3]},"speed":"fast"}'
    )
    assert client.post("/v1/messages", content=body, headers=HEADERS).status_code == 200
    assert upstream.requests[0].body == body


def test_gzip_response_passes_through_compressed_and_usage_is_still_read(
    client: TestClient, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    body = b'{"model": "claude-opus-5-5", "stream": true, "messages": []}'
    headers = {**HEADERS, "x-fake-mode": "gzip", "accept-encoding": "gzip"}
    with client.stream("POST", "/v1/messages", content=body, headers=headers) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    plain = gzip.decompress(raw)
    assert plain.startswith(b"event: message_start")
    record = only_record(recorder)
    assert record.output_tokens == upstream.events
    assert record.response_body == plain
    assert record.response_bytes == len(raw)


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip"])
def test_compressed_sse_from_any_encoding(
    tmp_path: Path, httpserver: HTTPServer, encoding: str
) -> None:
    sse = (
        b'event: message_start\ndata: {"type":"message_start","message":{"model":"m",'
        b'"usage":{"input_tokens":7,"output_tokens":1}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
        b'"max_tokens"},"usage":{"output_tokens":42}}\n\n'
    )
    packed = {
        "br": lambda b: bytes(brotli.compress(b)),
        "zstd": lambda b: bytes(zstandard.ZstdCompressor().compress(b)),
        "gzip": gzip.compress,
    }[encoding](sse)
    httpserver.expect_request("/v1/messages").respond_with_response(
        WerkzeugResponse(
            packed, headers={"content-type": "text/event-stream", "content-encoding": encoding}
        )
    )
    recorder = FakeRecorder()
    app = create_app(make_config(tmp_path, httpserver.url_for("")), lambda _: recorder)
    with (
        TestClient(app) as test_client,
        test_client.stream(
            "POST", "/v1/messages", content=b'{"model":"m","stream":true}', headers=HEADERS
        ) as response,
    ):
        raw = b"".join(response.iter_raw())
    assert raw == packed
    record = only_record(recorder)
    assert (record.input_tokens, record.output_tokens) == (7, 42)
    assert record.stop_reason == "max_tokens"
    assert record.ttft_ms is not None


def test_non_streaming_json_response(
    client: TestClient, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    body = b'{"model": "claude-haiku-4-5", "max_tokens": 1, "messages": []}'
    response = client.post("/v1/messages", content=body, headers=HEADERS)
    assert response.status_code == 200 and response.json()["type"] == "message"
    record = only_record(recorder)
    assert record.stream is False and record.status == "ok"
    assert record.output_tokens == upstream.events
    assert record.stop_reason == "end_turn"
    assert record.ttft_ms is None


def test_count_tokens_is_forwarded_and_recorded_without_usage(
    client: TestClient, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    body = b'{"model": "claude-opus-5-5", "messages": []}'
    response = client.post("/v1/messages/count_tokens?beta=true", content=body, headers=HEADERS)
    assert response.status_code == 200 and response.json()["input_tokens"] > 0
    assert upstream.requests[0].path == "/v1/messages/count_tokens?beta=true"
    record = only_record(recorder)
    assert record.path == "/v1/messages/count_tokens" and record.status == "ok"
    assert record.input_tokens is None


def test_bearer_token_is_forwarded_as_bearer(client: TestClient, upstream: FakeUpstream) -> None:
    headers = {"authorization": "Bearer sk-ant-oat01-secret", "anthropic-beta": "oauth-2025-04-20"}
    client.post("/v1/messages", content=b'{"model": "m"}', headers=headers)
    seen = upstream.requests[0].headers
    assert seen["authorization"] == "Bearer sk-ant-oat01-secret"
    assert "x-api-key" not in seen


def test_provider_key_replaces_the_clients(
    tmp_path: Path, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    config = load_config(
        environ={
            "CCP_PROVIDERS__ANTHROPIC__BASE_URL": upstream.url,
            "CCP_PROVIDERS__ANTHROPIC__API_KEY": "sk-ours",
            "DATA_DIR": str(tmp_path),
        },
        config_file=None,
    )
    with TestClient(create_app(config, lambda _: recorder)) as test_client:
        test_client.post("/v1/messages", content=b'{"model": "m"}', headers=HEADERS)
    assert upstream.requests[0].headers["x-api-key"] == "sk-ours"


def test_non_ascii_header_bytes_reach_upstream_unchanged(
    client: TestClient, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    note = "café ✓".encode()
    client.post("/v1/messages", content=b'{"model": "m"}', headers=[(b"x-note", note)])
    # The fake upstream reads its request head as latin-1, i.e. one character per byte.
    assert upstream.requests[0].headers["x-note"].encode("latin-1") == note
    assert only_record(recorder).request_headers["x-note"] == "café ✓"


@pytest.mark.timeout(20)  # without the fix the upstream request waits for a 100 Continue forever
def test_expect_100_continue_is_not_passed_upstream(
    client: TestClient, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    headers = {**HEADERS, "expect": "100-continue"}
    response = client.post("/v1/messages", content=b'{"model": "m"}', headers=headers)
    assert response.status_code == 200
    assert "expect" not in upstream.requests[0].headers
    assert only_record(recorder).status == "ok"


@pytest.mark.parametrize("status", [302, 307])
def test_upstream_redirects_go_back_to_the_client_unfollowed(
    tmp_path: Path, httpserver: HTTPServer, status: int
) -> None:
    # Followed, the redirect would take the client's x-api-key to the host it names.
    elsewhere = "http://127.0.0.1:9/elsewhere"
    httpserver.expect_request("/v1/messages").respond_with_response(
        WerkzeugResponse(b"moved", status=status, headers={"location": elsewhere})
    )
    recorder = FakeRecorder()
    app = create_app(make_config(tmp_path, httpserver.url_for("")), lambda _: recorder)
    with TestClient(app, follow_redirects=False) as test_client:
        response = test_client.post("/v1/messages", content=b'{"model": "m"}', headers=HEADERS)
    assert response.status_code == status
    assert response.headers["location"] == elsewhere
    assert response.content == b"moved"
    assert len(httpserver.log) == 1
    record = only_record(recorder)
    assert (record.status, record.http_status) == ("ok", status)
    assert record.response_body == b"moved"


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["error400", "error429", "error500", "overloaded529"])
def test_upstream_errors_pass_through_verbatim(
    client: TestClient, recorder: FakeRecorder, mode: str
) -> None:
    headers = {**HEADERS, "x-fake-mode": mode}
    response = client.post("/v1/messages", content=b'{"model": "m"}', headers=headers)
    status = int("".join(c for c in mode if c.isdigit()))
    assert response.status_code == status
    error = error_of(response)
    if mode == "error429":
        assert response.headers["retry-after"] == "1"
    record = only_record(recorder)
    assert record.status == "upstream_error" and record.http_status == status
    assert record.error_type == error["type"]
    assert record.response_body == response.content


def test_mid_stream_error_event_is_an_upstream_error(
    client: TestClient, recorder: FakeRecorder
) -> None:
    headers = {**HEADERS, "x-fake-mode": "midstream_error"}
    body = b'{"model": "m", "stream": true}'
    response = client.post("/v1/messages", content=body, headers=headers)
    assert response.status_code == 200
    assert b"event: error" in response.content
    record = only_record(recorder)
    assert record.status == "upstream_error" and record.error_type == "overloaded_error"


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b"not json", 400, "invalid_request_error"),
        (b'{"messages": []}', 400, "invalid_request_error"),
        (b'["model"]', 400, "invalid_request_error"),
    ],
)
def test_bad_bodies_get_anthropic_errors_and_a_record(
    client: TestClient,
    upstream: FakeUpstream,
    recorder: FakeRecorder,
    body: bytes,
    status: int,
    kind: str,
) -> None:
    response = client.post("/v1/messages", content=body, headers=HEADERS)
    assert response.status_code == status and error_of(response)["type"] == kind
    record = only_record(recorder)
    assert record.status == "proxy_error" and record.http_status == status
    assert response.headers["ccp-request-id"] == record.id
    assert upstream.served == 0


def test_body_over_the_limit_is_413(
    tmp_path: Path, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    config = make_config(tmp_path, upstream.url, **{"proxy.max_body_size": 100})
    with TestClient(create_app(config, lambda _: recorder)) as test_client:
        response = test_client.post(
            "/v1/messages", content=b'{"model": "m", "pad": "' + b"x" * 200 + b'"}'
        )
        ok = test_client.post("/v1/messages", content=b'{"model": "m"}')
    assert response.status_code == 413
    assert error_of(response)["type"] == "request_too_large"
    assert ok.status_code == 200
    assert [r.status for r in recorder.records] == ["proxy_error", "ok"]


def test_a_tab_in_a_header_value_is_fine(client: TestClient, upstream: FakeUpstream) -> None:
    headers = {**HEADERS, "x-odd": "a\tb"}
    response = client.post("/v1/messages", content=b'{"model": "m"}', headers=headers)
    assert response.status_code == 200
    assert upstream.requests[-1].headers["x-odd"] == "a\tb"


@pytest.mark.parametrize("value", ["a\x1bb", "a\x00", "tab\tis fine, but not\x7f"])
def test_a_control_character_in_a_header_is_a_400_naming_it(
    client: TestClient, upstream: FakeUpstream, recorder: FakeRecorder, value: str
) -> None:
    headers = {**HEADERS, "x-odd": value}
    response = client.post("/v1/messages", content=b'{"model": "m"}', headers=headers)
    assert response.status_code == 400
    assert error_of(response) == {
        "type": "invalid_request_error",
        "message": "header x-odd: control characters are not allowed in header values",
    }
    record = only_record(recorder)
    assert (record.status, record.http_status) == ("proxy_error", 400)
    assert upstream.requests == []
    # The pooled connection is still good for the next request.
    assert (
        client.post("/v1/messages", content=b'{"model": "m"}', headers=HEADERS).status_code == 200
    )


def test_a_bug_on_the_proxy_path_is_a_500_in_our_shape_and_still_one_record(
    tmp_path: Path, upstream: FakeUpstream, recorder: FakeRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> dict[str, str]:
        raise RuntimeError("a bug")

    monkeypatch.setattr("ccp_core.forward.upstream_headers", broken)
    app = create_app(make_config(tmp_path, upstream.url), lambda _: recorder)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post("/v1/messages", content=b'{"model": "m"}', headers=HEADERS)
    assert response.status_code == 500
    assert error_of(response) == {
        "type": "api_error",
        "message": "internal error in proxy-core: RuntimeError",
    }
    record = only_record(recorder)
    assert (record.status, record.http_status, record.error_type) == (
        "proxy_error",
        500,
        "internal_error",
    )
    assert upstream.requests == []


def test_unknown_path_and_wrong_method(client: TestClient, recorder: FakeRecorder) -> None:
    missing = client.post("/v1/nothing", content=b"{}")
    assert missing.status_code == 404 and error_of(missing)["type"] == "not_found_error"
    wrong = client.get("/v1/messages")
    assert wrong.status_code == 405 and error_of(wrong)["type"] == "invalid_request_error"
    assert wrong.headers["allow"] == "POST"
    assert [(r.status, r.http_status) for r in recorder.records] == [
        ("proxy_error", 404),
        ("proxy_error", 405),
    ]
    assert missing.headers["ccp-request-id"] == recorder.records[0].id


@pytest.mark.parametrize("path", ["/v1/messages/", "/v1/messages/count_tokens/"])
def test_trailing_slash_is_an_unknown_path_not_a_redirect(
    client: TestClient, upstream: FakeUpstream, recorder: FakeRecorder, path: str
) -> None:
    response = client.post(path, content=b'{"model": "m"}', headers=HEADERS, follow_redirects=False)
    assert response.status_code == 404 and error_of(response)["type"] == "not_found_error"
    assert (only_record(recorder).status, only_record(recorder).http_status) == ("proxy_error", 404)
    assert response.headers["ccp-request-id"] == only_record(recorder).id
    assert upstream.served == 0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_upstream_is_502_naming_the_provider(
    tmp_path: Path, recorder: FakeRecorder
) -> None:
    config = make_config(tmp_path, f"http://127.0.0.1:{closed_port()}")
    with TestClient(create_app(config, lambda _: recorder)) as test_client:
        response = test_client.post("/v1/messages", content=b'{"model": "m"}')
    assert response.status_code == 502
    error = error_of(response)
    assert error["type"] == "api_error" and "anthropic" in error["message"]
    assert only_record(recorder).status == "proxy_error"


def test_cookies_pass_through_and_are_never_kept_for_other_clients(
    tmp_path: Path, recorder: FakeRecorder
) -> None:
    # "localhost", not an IP address: aiohttp's default jar keeps cookies only from host names.
    cookie = "__cf_bm=abc123; Path=/; HttpOnly"
    with FakeUpstream(extra_headers={"set-cookie": cookie}) as up:
        base_url = up.url.replace("127.0.0.1", "localhost")
        with TestClient(create_app(make_config(tmp_path, base_url), lambda _: recorder)) as client:
            first = client.post("/v1/messages", content=b'{"model": "m"}', headers=HEADERS)
            client.cookies.clear()  # the test client's own jar: this is about proxy-core's
            second = client.post("/v1/messages", content=b'{"model": "m"}', headers=HEADERS)
            client.cookies.clear()
            own = client.post(
                "/v1/messages", content=b'{"model": "m"}', headers={**HEADERS, "cookie": "a=1"}
            )
        assert first.headers["set-cookie"] == cookie
        assert second.status_code == own.status_code == 200
        assert [request.headers.get("cookie") for request in up.requests] == [None, None, "a=1"]


# A provider host that cannot resolve (RFC 2606): reached at all only through the proxy.
BEHIND_PROXY = "http://api.provider.invalid:8080"


def test_http_proxy_variables_send_the_request_through_the_proxy(
    tmp_path: Path, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    # The fake answers absolute-form requests, so it stands in for a forward proxy here.
    environ = {"HTTP_PROXY": upstream.url.replace("http://", "http://me:pw@")}
    app = create_app(make_config(tmp_path, BEHIND_PROXY), lambda _: recorder, environ=environ)
    with TestClient(app) as test_client:
        response = test_client.post("/v1/messages?beta=true", content=b'{"model": "m"}')
    assert response.status_code == 200
    (seen,) = upstream.requests
    assert seen.path == f"{BEHIND_PROXY}/v1/messages?beta=true"
    assert seen.headers["proxy-authorization"] == "Basic bWU6cHc="  # me:pw
    assert only_record(recorder).upstream_url == f"{BEHIND_PROXY}/v1/messages"


def test_an_unreachable_proxy_is_a_502_naming_it(tmp_path: Path, recorder: FakeRecorder) -> None:
    proxy = f"http://127.0.0.1:{closed_port()}"
    app = create_app(
        make_config(tmp_path, BEHIND_PROXY), lambda _: recorder, environ={"http_proxy": proxy}
    )
    with TestClient(app) as test_client:
        response = test_client.post("/v1/messages", content=b'{"model": "m"}')
    assert response.status_code == 502
    assert f"through the proxy {proxy}" in error_of(response)["message"]


def test_no_proxy_keeps_a_provider_direct(
    tmp_path: Path, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    environ = {"HTTP_PROXY": upstream.url, "NO_PROXY": "provider.invalid"}
    app = create_app(make_config(tmp_path, BEHIND_PROXY), lambda _: recorder, environ=environ)
    with TestClient(app) as test_client:
        response = test_client.post("/v1/messages", content=b'{"model": "m"}')
    # Direct, the host does not resolve: a 502 that names no proxy, and the proxy saw nothing.
    assert response.status_code == 502
    assert "through the proxy" not in error_of(response)["message"]
    assert upstream.requests == []


def test_a_proxy_silent_after_connect_is_a_504_naming_it(
    tmp_path: Path, recorder: FakeRecorder
) -> None:
    # An https provider goes through a CONNECT tunnel; this proxy accepts and never answers.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
        config = make_config(
            tmp_path, "https://api.provider.invalid", **{"proxy.connect_timeout": "300ms"}
        )
        app = create_app(config, lambda _: recorder, environ={"HTTPS_PROXY": proxy})
        with TestClient(app) as test_client:
            response = test_client.post("/v1/messages", content=b'{"model": "m"}')
    assert response.status_code == 504
    assert f"through the proxy {proxy}" in error_of(response)["message"]


def test_silent_upstream_is_504(tmp_path: Path, recorder: FakeRecorder) -> None:
    # A listening socket nobody answers on: connect succeeds, the response never comes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        config = make_config(tmp_path, url, **{"proxy.idle_timeout": "300ms"})
        with TestClient(create_app(config, lambda _: recorder)) as test_client:
            response = test_client.post("/v1/messages", content=b'{"model": "m"}')
    assert response.status_code == 504
    assert error_of(response)["type"] == "timeout_error"
    assert only_record(recorder).error_type == "timeout_error"


def test_upstream_cut_mid_stream_is_recorded_as_upstream_error(
    client: TestClient, recorder: FakeRecorder
) -> None:
    headers = {**HEADERS, "x-fake-mode": "disconnect"}
    body = b'{"model": "m", "stream": true}'
    response = client.post("/v1/messages", content=body, headers=headers)
    assert response.status_code == 200 and b"message_stop" not in response.content
    record = only_record(recorder)
    assert record.status == "upstream_error"
    assert record.error_type == "upstream_disconnected"
    assert record.input_tokens is not None  # what was seen before the cut is kept


def test_a_stream_that_outlasts_the_idle_timeout_is_never_cut(
    tmp_path: Path, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    # 15 text deltas among 21 events, 100 ms apart: about 2 s in all, four idle timeouts, yet
    # never 500 ms without a byte. A total timeout (on the request, the stream or the read) of
    # anything short would cut it.
    config = make_config(tmp_path, upstream.url, **{"proxy.idle_timeout": "500ms"})
    headers = {**HEADERS, "x-fake-events": "15", "x-fake-pace-ms": "100"}
    with TestClient(create_app(config, lambda _: recorder)) as test_client:
        response = test_client.post(
            "/v1/messages", content=b'{"model": "m", "stream": true}', headers=headers
        )
    assert response.status_code == 200
    assert response.content.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    record = only_record(recorder)
    assert (record.status, record.error_type, record.output_tokens) == ("ok", None, 15)
    assert record.duration_ms is not None and record.duration_ms > 1800


def test_a_stream_gone_quiet_mid_way_is_cut_after_the_idle_timeout_and_recorded(
    tmp_path: Path, upstream: FakeUpstream, recorder: FakeRecorder
) -> None:
    config = make_config(tmp_path, upstream.url, **{"proxy.idle_timeout": "300ms"})
    headers = {**HEADERS, "x-fake-mode": "stall"}  # the first event, then silence
    with TestClient(create_app(config, lambda _: recorder)) as test_client:
        response = test_client.post(
            "/v1/messages", content=b'{"model": "m", "stream": true}', headers=headers
        )
    # The head and first event were relayed; the body then ends without its end (truncated).
    assert response.status_code == 200
    assert b"message_start" in response.content and b"message_stop" not in response.content
    record = only_record(recorder)
    assert (record.status, record.error_type) == ("upstream_error", "timeout_error")
    assert record.input_tokens is not None  # what came before the silence is kept
    assert record.duration_ms is not None and 300 <= record.duration_ms < 5000


def test_claude_code_probes_are_answered_without_records(
    client: TestClient, recorder: FakeRecorder
) -> None:
    assert client.head("/").status_code == 200
    assert client.post("/api/event_logging/batch", content=b"{}").status_code == 204
    assert client.post("/api/event_logging/v2/batch", content=b"{}").status_code == 204
    assert recorder.records == []


# -- models, health, metrics -------------------------------------------------------------------


def test_models_list(client: TestClient, recorder: FakeRecorder) -> None:
    page = client.get("/v1/models?limit=1000").json()
    ids = [model["id"] for model in page["data"]]
    assert "claude-opus-5-5" in ids and page["has_more"] is False
    assert page["first_id"] == ids[0] and page["last_id"] == ids[-1]
    assert all(m["type"] == "model" and m["display_name"] and m["created_at"] for m in page["data"])
    assert client.get("/v1/models?limit=2").json()["has_more"] is True
    for limit in ("0", "%C2%B2"):
        bad = client.get(f"/v1/models?limit={limit}")
        assert bad.status_code == 400 and error_of(bad)["type"] == "invalid_request_error"
    assert recorder.records == []


def test_one_model_by_id(client: TestClient) -> None:
    listed = client.get("/v1/models?limit=1000").json()["data"]
    model = next(m for m in listed if m["id"] == "claude-opus-5-5")
    response = client.get("/v1/models/claude-opus-5-5")
    assert response.status_code == 200 and response.json() == model
    missing = client.get("/v1/models/claude-nope")
    assert missing.status_code == 404 and error_of(missing)["type"] == "not_found_error"
    slash = client.get("/v1/models/", follow_redirects=False)
    assert slash.status_code == 404 and error_of(slash)["type"] == "not_found_error"


def test_health_reports_database_and_turns_503_when_it_is_down(
    client: TestClient, recorder: FakeRecorder
) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["service"] == "proxy-core"
    assert body["database"]["status"] == "ok" and body["database"]["path"].endswith("ccp.db")
    assert body["spool"] == {"pending": 0} and "anthropic" in body["providers"]
    assert client.get("/v1/health").status_code == 200
    recorder.pending = 3
    assert client.get("/health").json()["status"] == "degraded"
    recorder.healthy = False
    down = client.get("/health")
    assert down.status_code == 503 and down.json()["database"]["status"] == "error"


def test_metrics_count_requests(client: TestClient) -> None:
    client.post("/v1/messages", content=b'{"model": "claude-x"}', headers=HEADERS)
    client.post("/v1/messages", content=b"nope", headers=HEADERS)
    text = client.get("/metrics").text
    assert 'ccp_core_requests_total{status="ok",model="claude-x"} 1' in text
    assert 'ccp_core_requests_total{status="proxy_error",model="unknown"} 1' in text
    assert "ccp_core_in_flight 0" in text
    assert "ccp_core_recorder_written_total 2" in text


def test_concurrent_requests_each_get_exactly_one_record(
    client: TestClient, recorder: FakeRecorder
) -> None:
    def hit() -> None:
        client.post("/v1/messages", content=b'{"model": "m", "stream": true}', headers=HEADERS)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.id for r in recorder.records}) == len(recorder.records) == 8
    assert [r.status for r in recorder.records] == ["ok"] * 8
