"""Which addresses Berth may connect to when it speaks to another registry.

A rule names an upstream or a destination by URL, and its host name resolves to addresses
chosen by whoever controls the name's DNS. Berth connects only to public addresses: never
loopback, link-local (169.254.169.254, the cloud metadata service), private, shared
(100.64.0.0/10), multicast, reserved or unspecified ones, nor IPv6 addresses that carry one
of those (IPv4-mapped, IPv4-compatible, 6to4, NAT64, Teredo), unless the rule allows
private networks. The check is made on the resolved addresses, for every connection
(redirects and token realms included), and the connection goes to the address that was
checked, never to a second resolution of the name.
"""

from __future__ import annotations

import ipaddress
import socket

from .errors import Refused, Unreachable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it stands for one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _NAT64) or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden(address: IPAddress | str) -> bool:
    """True for every address that is not a public unicast one."""
    address = ipaddress.ip_address(address)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and forbidden(embedded):
            return True
    return not address.is_global or address.is_multicast


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (a literal address is itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unreachable(f"{host} does not resolve: {exc}") from None
    addresses: list[IPAddress] = []
    for _, _, _, _, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def allowed_addresses(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """The addresses of `host` Berth may connect to: all of them, or Refused.

    A name that resolves to one forbidden address among public ones is refused whole: a
    DNS answer mixing them is how rebinding attacks begin."""
    addresses = resolve(host, port)
    if not addresses:
        raise Unreachable(f"{host} has no address")
    if not allow_private:
        bad = [str(address) for address in addresses if forbidden(address)]
        if bad:
            raise Refused(
                f"{host} resolves to an address Berth does not connect to ({', '.join(bad)}): "
                "loopback, link-local and private networks need a rule that allows them"
            )
    return addresses


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """What is wrong with `url` as another registry's address for a rule, or None: it must be
    a scheme, host and port without a path, and reach a public address unless the rule allows
    private networks. A name that does not resolve now is not refused (DNS may be down; every
    connection checks again)."""
    from .http import split  # http imports this module

    try:
        _, host, port, path = split(url.rstrip("/"))
        if path not in ("", "/"):
            return "Give the registry's scheme, host and port, without a path."
        if not allow_private:
            allowed_addresses(host, port, allow_private=False)
    except Refused as refused:
        return refused.message
    except Unreachable:
        pass
    return None
