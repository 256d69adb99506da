"""Failed sign-ins are throttled per address and per username, everywhere, before hashing."""

import json

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client

from registry.access import auth, ratelimit
from tests.factories import PASSWORD
from tests.oci import basic, error_codes, post_form

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def three_failures(settings, monkeypatch):
    monkeypatch.setattr(auth, "LOGINS", ratelimit.Limiter("logins", ratelimit.Rate(3, 900)))


def fail_on_v2(username="alice", address="10.0.0.1"):
    return Client(REMOTE_ADDR=address).get(
        "/v2/", headers={"Authorization": basic(username, "wrong")}
    )


def test_v2_basic_answers_429_toomanyrequests_after_the_limit(alice):
    assert [fail_on_v2().status_code for _ in range(3)] == [401, 401, 401]
    response = fail_on_v2()
    assert response.status_code == 429
    assert error_codes(response) == ["TOOMANYREQUESTS"]
    assert 0 < int(response["Retry-After"]) <= 900


def test_the_limit_holds_per_username_across_addresses(alice):
    for i in range(3):
        fail_on_v2(address=f"10.0.0.{i}")
    assert fail_on_v2(address="10.9.9.9").status_code == 429


def test_the_limit_holds_per_address_across_usernames(alice, bob):
    for username in ("alice", "bob", "carol"):
        fail_on_v2(username=username)
    assert fail_on_v2(username="dave").status_code == 429
    assert fail_on_v2(username="dave", address="10.0.0.2").status_code == 401


def test_the_right_password_is_refused_too_while_throttled(alice):
    for _ in range(3):
        fail_on_v2()
    response = Client(REMOTE_ADDR="10.0.0.1").get("/v2/", headers={"Authorization": basic("alice")})
    assert response.status_code == 429


def test_failing_on_purpose_does_not_lock_out_the_users_access_tokens(alice):
    """Anyone knowing a username can exhaust its password attempts; its CI keeps working."""
    from registry.access import credentials

    _, secret = credentials.create_token(user=alice, name="ci", scopes=["pull", "push"])
    for i in range(3):
        fail_on_v2(address=f"10.0.0.{i}")
    assert fail_on_v2(address="10.9.9.9").status_code == 429  # the password: locked
    ci = Client(REMOTE_ADDR="10.5.5.5")
    assert ci.get("/v2/", headers={"Authorization": basic("alice", secret)}).status_code == 200
    response = ci.get(
        "/token",
        {"service": "berth", "scope": "repository:alice/app:pull"},
        headers={"Authorization": basic("alice", secret)},
    )
    assert response.status_code == 200, response.content


def test_wrong_tokens_are_throttled_per_address(alice):
    wrong = "berth_" + "a" * 12 + "_" + "b" * 43
    client = Client(REMOTE_ADDR="10.0.0.7")
    answers = [
        client.get("/v2/", headers={"Authorization": basic("alice", wrong)}).status_code
        for _ in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    assert fail_on_v2(address="10.0.0.8").status_code == 401  # alice's name is not counted


def test_throttled_attempts_cost_no_password_hash(alice, monkeypatch):
    for _ in range(3):
        fail_on_v2()
    calls = []
    original = MD5PasswordHasher.verify
    monkeypatch.setattr(
        MD5PasswordHasher, "verify", lambda self, *a: calls.append(1) or original(self, *a)
    )
    monkeypatch.setattr(MD5PasswordHasher, "encode", lambda *a, **k: calls.append(1) or "md5$x$y")
    for _ in range(5):
        assert fail_on_v2().status_code == 429
    assert calls == []


def test_token_get_is_throttled(alice):
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        assert (
            client.get("/token", headers={"Authorization": basic("alice", "x")}).status_code == 401
        )
    response = client.get("/token", headers={"Authorization": basic("alice", "x")})
    assert response.status_code == 429
    assert response["Retry-After"]
    assert json.loads(response.content)["error"] == "slow_down"


def test_token_post_is_throttled(alice):
    client = Client(REMOTE_ADDR="10.0.0.1")
    form = {"grant_type": "password", "username": "alice", "password": "x", "service": "berth"}
    for _ in range(3):
        assert post_form(client, "/token", form).status_code == 400
    assert post_form(client, "/token", form).status_code == 429


def test_the_sign_in_page_is_throttled(alice):
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        assert (
            client.post("/accounts/login/", {"username": "alice", "password": "x"}).status_code
            == 200
        )
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert response["Retry-After"]
    assert b"Too many attempts" in response.content


def test_the_admin_sign_in_is_throttled(alice):
    alice.is_staff = True
    alice.save()
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        client.post("/admin/login/", {"username": "alice", "password": "x"})
    response = client.post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many attempts" in response.content


def test_the_address_comes_from_a_trusted_proxy_only(alice, settings):
    settings.BERTH_TRUSTED_PROXIES = ["127.0.0.1"]
    for i in range(3):  # a client cannot escape the limit by inventing forwarded addresses
        Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").get(
            "/v2/", headers={"Authorization": basic(f"user{i}", "x")}
        )
    assert fail_on_v2(username="other").status_code == 429
    behind_proxy = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.50")
    response = behind_proxy.get("/v2/", headers={"Authorization": basic("other", "x")})
    assert response.status_code == 401  # a different client, seen through the proxy
