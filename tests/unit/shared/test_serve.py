from __future__ import annotations

import importlib
import logging
import socket
from pathlib import Path

import pytest

from ccp_shared.config import ConfigError
from ccp_shared.migrate import upgrade
from ccp_shared.serve import (
    KEEP_ALIVE_TIMEOUT,
    check_port,
    hypercorn_config,
    log_level_name,
    port_problem,
)


@pytest.mark.parametrize(("value", "name"), [("debug", "DEBUG"), ("Warning", "WARNING")])
def test_log_levels_are_logging_names(value: str, name: str) -> None:
    assert log_level_name(value) == name


def test_an_unknown_log_level_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"log_level: unknown level 'verbose'"):
        log_level_name("verbose")


def test_the_hypercorn_config_binds_quietly_through_our_logging() -> None:
    hc = hypercorn_config(host="127.0.0.1", port=3001, graceful_timeout=7.5)
    assert hc.bind == ["127.0.0.1:3001"]
    assert hc.graceful_timeout == 7.5
    assert hc.keep_alive_timeout == KEEP_ALIVE_TIMEOUT
    assert hc.accesslog is None
    assert hc.errorlog is logging.getLogger("hypercorn.error")
    assert hc.include_date_header and hc.include_server_header


def test_a_gateway_leaves_date_and_server_to_the_upstream() -> None:
    hc = hypercorn_config(host="::1", port=1, graceful_timeout=1.0, server_headers=False)
    assert not hc.include_date_header
    assert not hc.include_server_header


def test_a_port_in_use_is_a_config_error_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as raised:
            check_port("127.0.0.1", port, "core_port")
    assert str(raised.value) == (
        f"core_port 127.0.0.1:{port} is in use (Address already in use). "
        "Stop what uses it or choose another port."
    )
    check_port("127.0.0.1", port, "core_port")  # free again once it is closed


def test_an_address_not_of_this_machine_is_not_blamed_on_the_port() -> None:
    # 192.0.2.0/24 is TEST-NET-1: never a local address.
    problem = port_problem("192.0.2.1", 3001, "core_port")
    assert problem is not None
    assert problem.startswith("core_port 192.0.2.1:3001 cannot be bound (")
    assert problem.endswith("Is the address this machine's?")
    assert port_problem("127.0.0.1", 0, "core_port") is None


@pytest.mark.parametrize(
    ("service", "setting"),
    [
        ("ccp_core.main", "core_port (CCP_CORE_PORT, --port)"),
        ("ccp_data.main", "data_port (CCP_DATA_PORT, --port)"),
    ],
)
def test_a_service_on_a_taken_port_says_so_in_one_line_before_starting(
    service: str,
    setting: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATA_DIR", "CCP_DB_PATH", "CCP_CONFIG", "CCP_PERSIST", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    upgrade(tmp_path / "data" / "ccp.db")
    main = importlib.import_module(service).main
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["--data-dir", str(tmp_path / "data"), "--host", "127.0.0.1", "--port", str(port)]
        code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"{setting} 127.0.0.1:{port} is in use" in err
