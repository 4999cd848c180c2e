from __future__ import annotations

import logging

import pytest

from ccp_shared.config import ConfigError
from ccp_shared.serve import KEEP_ALIVE_TIMEOUT, hypercorn_config, log_level_name


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
