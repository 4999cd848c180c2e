"""The forward proxy, if any, between proxy-core and a provider.

Read once at start-up from the usual variables, as urllib reads them: ``HTTPS_PROXY`` for an
``https://`` provider, ``HTTP_PROXY`` for ``http://`` (lower-case names win over upper-case), and
``NO_PROXY`` for hosts reached directly. A loopback provider is always reached directly: a proxy
cannot see this machine's localhost. aiohttp's own ``trust_env`` would look the variables up again
on a worker thread for every request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import NamedTuple

import aiohttp
from yarl import URL

from ccp_shared.config import ConfigError

PROXY_SCHEMES = frozenset({"http", "https"})


class Egress(NamedTuple):
    """How to reach one provider: straight, or through ``proxy``.

    The proxy's credentials (``Proxy-Authorization``, when its URL carries some) go where the
    proxy reads them: on the CONNECT of an ``https://`` provider (``connect_headers``, which
    aiohttp sends on the CONNECT only) or on each request to an ``http://`` provider, which goes
    to the proxy itself (``request_headers``). Inside a tunnel they would reach the provider.
    """

    proxy: URL | None = None
    connect_headers: dict[str, str] | None = None
    request_headers: dict[str, str] | None = None


DIRECT = Egress()


def environment_proxies(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{scheme: (variable, value)}`` from ``*_PROXY`` variables; ``"no"`` holds ``NO_PROXY``.

    Upper-case names first, then lower-case ones over them; an empty value unsets, as urllib does.
    """
    proxies: dict[str, tuple[str, str]] = {}
    for lower_pass in (False, True):
        for name, value in environ.items():
            if not name.lower().endswith("_proxy") or (name == name.lower()) != lower_pass:
                continue
            scheme = name[: -len("_proxy")].lower()
            if value:
                proxies[scheme] = (name, value)
            else:
                proxies.pop(scheme, None)
    return proxies


def egress_for(base_url: str, environ: Mapping[str, str]) -> Egress:
    """The way to ``base_url``; ConfigError, naming the variable, for a proxy we cannot use."""
    url = URL(base_url)
    host = url.host or ""
    proxies = environment_proxies(environ)
    chosen = proxies.get(url.scheme)
    if chosen is None or _is_loopback(host):
        return DIRECT
    if "no" in proxies and bypassed(host.lower(), url.port, proxies["no"][1]):
        return DIRECT
    name, value = chosen
    try:
        proxy = URL(value if "://" in value else f"http://{value}")
        if proxy.scheme not in PROXY_SCHEMES or not proxy.host:
            raise ValueError("proxy-core can use an http:// or https:// proxy")
        credentials = None
        if proxy.user:
            basic = aiohttp.encode_basic_auth(proxy.user, proxy.password or "")
            credentials = {"Proxy-Authorization": basic}
    except ValueError as exc:
        raise ConfigError(
            f"{name}={_masked(value)}: {exc}; fix it, unset it, or add the provider's host to "
            "NO_PROXY"
        ) from None
    if url.scheme == "https":
        return Egress(proxy.with_user(None), connect_headers=credentials)
    return Egress(proxy.with_user(None), request_headers=credentials)


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` names the host, as curl reads it.

    Comma-separated entries: ``*`` (every host), a domain (``example.com`` or ``.example.com``,
    itself and its subdomains; ``*.example.com`` too), either with ``:port``, or an IP address or
    network (``10.0.0.0/8``).
    """
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if entry == "*":
            return True
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            pass
        else:
            if _in_network(host, network):
                return True
            continue
        name, _, entry_port = entry.rpartition(":") if ":" in entry else (entry, "", "")
        if entry_port and port is not None and entry_port != str(port):
            continue
        name = name.strip("[]").removeprefix("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _in_network(host: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) in network
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _masked(value: str) -> str:
    """A proxy setting fit for an error message: whatever precedes an ``@`` is a credential."""
    scheme, _, rest = value.rpartition("://")
    _, at, host = rest.rpartition("@")
    return f"{scheme + '://' if scheme else ''}{'****@' if at else ''}{host}"
