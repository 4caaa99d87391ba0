"""The client's real address and scheme behind trusted reverse proxies (REPORTER_TRUSTED_PROXIES).

Only a request whose peer address is a configured proxy may say, through X-Forwarded-For and
X-Forwarded-Proto, who the client was and whether it came over HTTPS: anyone else could forge those
headers. X-Forwarded-For is read from the right, skipping trusted proxies; the first other address is the
client. With no setting, the peer address is the client and the headers are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from reporter.errors import InputError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str | None) -> list[Network]:
    """'10.0.0.1, 192.168.0.0/16' -> networks. InputError names the entry that is not an address."""
    networks = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise InputError(f"{part!r} is not an IP address or network", location="REPORTER_TRUSTED_PROXIES",
                             hint="a comma-separated list such as 127.0.0.1, 10.0.0.0/8") from exc
    return networks


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


class TrustedProxies:
    """WSGI middleware rewriting REMOTE_ADDR and wsgi.url_scheme for requests from trusted proxies."""

    def __init__(self, app, networks: list[Network]) -> None:
        self.app = app
        self.networks = networks

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        if self.networks and _trusted(peer, self.networks):
            forwarded = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
            client = peer
            for address in reversed(forwarded):
                client = address
                if not _trusted(address, self.networks):
                    break
            try:
                client = str(ipaddress.ip_address(client))
            except ValueError:
                client = peer  # a forged or garbled entry: keep the proxy's address
            environ["reporter.proxy_addr"] = peer
            environ["REMOTE_ADDR"] = client
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        return self.app(environ, start_response)
