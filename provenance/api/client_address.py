"""The client's address, as far as the proxies in front of Cairn vouch for it.

X-Forwarded-For is written by whoever sends the request, so it is believed
only as far as trusted hands wrote it. The connecting peer (REMOTE_ADDR) is
the one address nobody can forge over TCP. When the peer is one of
CAIRN_TRUSTED_PROXIES (addresses or networks: the reverse proxy in front of
gunicorn, a load balancer in front of it), the header's hops are read from
the right, each appended by the proxy that received it, skipping the trusted
proxies; the first address that is not one of them is the client. Whatever
stands left of it was sent by the client and proves nothing. With no
trusted proxy configured, the header is ignored and the peer is the client.

So a client that sends `X-Forwarded-For: 203.0.113.7` through nginx
(`proxy_add_x_forwarded_for` appends its own peer) is still known by its
own address, and a client reaching gunicorn directly with the header is
known by its peer address.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _parse(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen over an IPv6 socket is the same client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Iterable[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address_from(peer: str, forwarded_for: str, trusted_proxies: Iterable[str]) -> str:
    """The client's address: `peer` (REMOTE_ADDR), or the rightmost hop of
    `forwarded_for` that is not a trusted proxy when every hop between it and
    the peer is one. An unreadable hop ends the walk at the last trusted one."""
    proxies = _networks(tuple(trusted_proxies))
    current = _parse(peer)
    if current is None:
        return peer
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    while _trusted(current, proxies) and hops:
        previous = _parse(hops.pop())
        if previous is None:
            break
        current = previous
    return str(current)


def client_address(request: HttpRequest) -> str:
    """The address of the client of `request` (see the module's docstring)."""
    return client_address_from(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        settings.CAIRN_TRUSTED_PROXIES,
    )
