"""The addresses Berth connects to: public ones only, checked on what a name resolves to."""

import socket

import pytest

from registry.upstream import Refused, Registry, addresses


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.0.0.2", "::1", "169.254.169.254", "10.1.2.3", "172.16.0.1",
        "192.168.1.1", "100.64.0.1", "0.0.0.0", "::",  # noqa: S104 (not a bind) "224.0.0.1", "fd00::1", "fe80::1",
        "::ffff:127.0.0.1", "::127.0.0.1", "2002:7f00:1::", "64:ff9b::a9fe:a9fe",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
    ],
)  # fmt: skip
def test_loopback_link_local_private_and_the_ipv6_forms_carrying_them_are_forbidden(address):
    assert addresses.forbidden(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111"])
def test_public_unicast_addresses_are_allowed(address):
    assert not addresses.forbidden(address)


def resolving_to(monkeypatch, *answers: str) -> None:
    def fake(host, port, *args, **kwargs):
        family = {True: socket.AF_INET6, False: socket.AF_INET}
        return [(family[":" in a], socket.SOCK_STREAM, 6, "", (a, port)) for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_a_name_that_resolves_to_loopback_is_refused(monkeypatch):
    resolving_to(monkeypatch, "127.0.0.1")
    with pytest.raises(Refused, match=r"127\.0\.0\.1"):
        addresses.allowed_addresses("registry.example", 443, allow_private=False)


def test_a_name_that_resolves_to_a_public_and_a_private_address_is_refused_whole(monkeypatch):
    resolving_to(monkeypatch, "8.8.8.8", "10.0.0.5")
    with pytest.raises(Refused, match=r"10\.0\.0\.5"):
        addresses.allowed_addresses("registry.example", 443, allow_private=False)


def test_private_networks_are_reached_when_the_rule_allows_them(monkeypatch):
    resolving_to(monkeypatch, "10.0.0.5")
    found = addresses.allowed_addresses("registry.example", 443, allow_private=True)
    assert [str(a) for a in found] == ["10.0.0.5"]


def test_a_client_never_connects_to_a_name_that_resolves_to_the_metadata_service(monkeypatch):
    resolving_to(monkeypatch, "169.254.169.254")
    connected = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a))
    with pytest.raises(Refused):
        Registry("http://metadata.example").head_manifest("library/alpine", "latest")
    assert connected == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://registry.example",
        "http://user:pass@registry.example",
        "http://registry.example/v2",
        "http://[::1",  # urlsplit's ValueError: a 500 on POST /api/v1/replication-rules
        "http://[registry.example]",
    ],
)
def test_a_registry_url_other_than_scheme_host_and_port_is_refused(url):
    with pytest.raises(Refused):
        Registry(url)
    assert addresses.url_problem(url, allow_private=False)
