"""The forward proxy proxy-core uses to reach a provider, read from the standard variables."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from yarl import URL

from ccp_core.egress import DIRECT, Egress, bypassed, egress_for
from ccp_core.main import main
from ccp_shared.config import ConfigError

ANTHROPIC = "https://api.anthropic.com"


def test_no_proxy_variables_mean_a_direct_connection() -> None:
    assert egress_for(ANTHROPIC, {"PATH": "/usr/bin"}) is DIRECT


def test_the_variable_of_the_provider_scheme_is_used() -> None:
    environ = {"HTTPS_PROXY": "http://proxy.corp:3128", "HTTP_PROXY": "http://other:8080"}
    assert egress_for(ANTHROPIC, environ) == Egress(URL("http://proxy.corp:3128"))
    assert egress_for("http://plain.example", environ) == Egress(URL("http://other:8080"))


def test_lower_case_wins_and_an_empty_value_unsets() -> None:
    assert egress_for(
        ANTHROPIC, {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"}
    ) == (Egress(URL("http://lower:2")))
    assert egress_for(ANTHROPIC, {"HTTPS_PROXY": "http://upper:1", "https_proxy": ""}) is DIRECT


def test_a_proxy_without_a_scheme_is_http_and_credentials_become_basic_auth() -> None:
    assert egress_for(ANTHROPIC, {"HTTPS_PROXY": "proxy.corp:3128"}).proxy == URL(
        "http://proxy.corp:3128"
    )
    proxy = "http://me:s%40cret@proxy.corp:3128"
    credentials = {"Proxy-Authorization": "Basic " + base64.b64encode(b"me:s@cret").decode()}
    # On the CONNECT of an https provider; on each request to an http one (no tunnel there).
    assert egress_for(ANTHROPIC, {"HTTPS_PROXY": proxy}) == Egress(
        URL("http://proxy.corp:3128"), connect_headers=credentials
    )
    assert egress_for("http://plain.example", {"HTTP_PROXY": proxy}) == Egress(
        URL("http://proxy.corp:3128"), request_headers=credentials
    )


def test_no_proxy_and_loopback_providers_go_direct() -> None:
    proxy = {"HTTPS_PROXY": "http://proxy.corp:3128", "HTTP_PROXY": "http://proxy.corp:3128"}
    assert egress_for(ANTHROPIC, {**proxy, "NO_PROXY": "example.org, .anthropic.com"}) is DIRECT
    assert egress_for(ANTHROPIC, {**proxy, "no_proxy": "*"}) is DIRECT
    assert egress_for("http://127.0.0.1:8900", proxy) is DIRECT
    assert egress_for("http://localhost:8900", proxy) is DIRECT
    assert egress_for("http://[::1]:8900", proxy) is DIRECT
    assert egress_for(ANTHROPIC, {**proxy, "NO_PROXY": "example.org"}).proxy is not None


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "expected"),
    [
        ("api.anthropic.com", 443, "anthropic.com", True),
        ("api.anthropic.com", 443, "*.anthropic.com", True),
        ("anthropic.com", 443, ".anthropic.com", True),
        ("notanthropic.com", 443, "anthropic.com", False),
        ("api.anthropic.com", 443, "api.anthropic.com:443", True),
        ("api.anthropic.com", 443, "api.anthropic.com:8443", False),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("10.1.2.3", 80, "192.168.0.0/16", False),
        ("192.168.0.7", 80, "192.168.0.7", True),
        ("api.z.ai", 443, " , ", False),
        ("fd00::5", 443, "[fd00::5]:443", True),
        ("fd00::5", 443, "fd00::/8", True),
    ],
)
def test_no_proxy_entries_read_as_curl_reads_them(
    host: str, port: int, no_proxy: str, expected: bool
) -> None:
    assert bypassed(host, port, no_proxy) is expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("socks5://me:secret@proxy:1080", "socks5://****@proxy:1080"),
        ("socks5://secret@proxy:1080", "socks5://****@proxy:1080"),
        ("http://proxy:31x8", "http://proxy:31x8"),
        ("me:secret@:3128", "****@:3128"),
        ("http://us%3Aer:secret@proxy:3128", "http://****@proxy:3128"),
    ],
)
def test_a_proxy_setting_that_cannot_be_used_is_a_clear_error_without_credentials(
    value: str, shown: str
) -> None:
    with pytest.raises(ConfigError) as info:
        egress_for(ANTHROPIC, {"HTTPS_PROXY": value})
    message = str(info.value)
    assert message.startswith(f"HTTPS_PROXY={shown}: ")
    assert "secret" not in message and "NO_PROXY" in message


def test_proxy_core_refuses_to_start_with_a_proxy_it_cannot_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATA_DIR", "CCP_DB_PATH", "CCP_CONFIG", "CCP_PERSIST"):
        monkeypatch.delenv(name, raising=False)
    for name in ("https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.corp:1080")
    assert main(["--lite", "--data-dir", str(tmp_path / "data"), "--port", "1"]) == 2
    assert "HTTPS_PROXY=socks5://proxy.corp:1080" in capsys.readouterr().err
