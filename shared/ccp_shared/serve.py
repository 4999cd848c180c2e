"""Serving an ASGI app with hypercorn on uvloop, the same way for proxy-core and proxy-data.

Hypercorn installs its own SIGINT/SIGTERM handlers when no shutdown trigger is given: a signal
stops accepting connections and lets in-flight requests (long streams included) finish for up to
``graceful_timeout`` seconds before the lifespan shutdown runs.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any, cast

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.typing import ASGIFramework

from ccp_shared.config import ConfigError

# Caddy drops idle connections to the services after 2 s (deploy/Caddyfile, keepalive); we must
# not close them first, or Caddy may reuse a connection at the moment we drop it.
KEEP_ALIVE_TIMEOUT = 180.0
# Any ASGI callable: Starlette types scope/receive/send more loosely than hypercorn does.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_level_name(value: object) -> str:
    """``log_level`` as a logging level name, or ConfigError naming the ones there are."""
    level = str(value).upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(
            f"log_level: unknown level {value!r} (expected debug, info, warning or error)"
        )
    return level


def port_problem(host: str, port: int, what: str) -> str | None:
    """Why ``host:port`` cannot be bound now, as hypercorn will bind it, in a sentence naming
    ``what`` (the setting to change); None when it can. SO_REUSEADDR, as hypercorn sets it: a
    port in TIME_WAIT (a service stopped a moment ago) is free for both."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"{what} {host}:{port} is in use ({reason}). "
                    "Stop what uses it or choose another port."
                )
            return (
                f"{what} {host}:{port} cannot be bound ({reason}). Is the address this machine's?"
            )
    return None


def check_port(host: str, port: int, what: str) -> None:
    """ConfigError unless ``host:port`` can be bound: hypercorn binds only after the app's
    lifespan has started (the recorder, the indexer), and a failure then is a traceback."""
    problem = port_problem(host, port, what)
    if problem is not None:
        raise ConfigError(problem)


def hypercorn_config(
    *,
    host: str,
    port: int,
    graceful_timeout: float,
    keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT,
    server_headers: bool = True,
) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [f"{host}:{port}"]
    hc.keep_alive_timeout = keep_alive_timeout
    hc.graceful_timeout = graceful_timeout
    hc.accesslog = None
    # A gateway passes on the upstream's Date and Server with the rest of its headers; two of
    # each would be ambiguous to clients.
    hc.include_date_header = server_headers
    hc.include_server_header = server_headers
    # Hypercorn's messages go through our root handler (one format, no duplicate lines).
    hc.errorlog = logging.getLogger("hypercorn.error")
    return hc


def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    graceful_timeout: float,
    log_level: str,
    keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT,
    server_headers: bool = True,
) -> None:
    """Run ``app`` until SIGINT/SIGTERM; ``log_level`` is a name from ``log_level_name``."""
    logging.basicConfig(level=log_level, format=LOG_FORMAT)
    config = hypercorn_config(
        host=host,
        port=port,
        graceful_timeout=graceful_timeout,
        keep_alive_timeout=keep_alive_timeout,
        server_headers=server_headers,
    )
    running = hypercorn_serve(cast(ASGIFramework, app), config)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        asyncio.run(running)
    else:
        uvloop.run(running)
