"""The client's address: REMOTE_ADDR, or behind trusted proxies their X-Forwarded-For.

Only proxies listed in BERTH_TRUSTED_PROXIES (addresses or networks) are believed. The
forwarded chain is read from the right, skipping trusted proxies; the first address that
is not one is the client. A header sent by anyone else is ignored, so a client cannot
choose the address its limits and network rules are counted against.
"""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings


@cache
def _trusted(networks: tuple[str, ...]):
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def _is_trusted(address: str) -> bool:
    networks = _trusted(tuple(settings.BERTH_TRUSTED_PROXIES))
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or ""
    if not _is_trusted(remote):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # a malformed hop: fall back to the proxy itself
    return remote
