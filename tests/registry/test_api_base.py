import json

import pytest

from tests.oci import RegistryClient, error_codes

pytestmark = pytest.mark.django_db


def test_base_endpoint_challenges_anonymous_callers(anonymous):
    response = anonymous.get("/v2/")
    assert response.status_code == 401
    assert response["Docker-Distribution-API-Version"] == "registry/2.0"
    assert response["WWW-Authenticate"] == (
        'Bearer realm="http://testserver/token",service="berth"'
    )
    assert error_codes(response) == ["UNAUTHORIZED"]


def test_base_endpoint_answers_authenticated_callers(as_alice):
    response = as_alice.get("/v2/")
    assert response.status_code == 200
    assert json.loads(response.content) == {}


def test_wrong_password_is_unauthorized(alice):
    response = RegistryClient("alice").get("/v2/", headers={"Authorization": "Basic YWxpY2U6bm8="})
    assert response.status_code == 401


def test_garbage_bearer_token_is_unauthorized_with_invalid_token(anonymous):
    response = anonymous.get("/v2/", headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_repository_name_off_the_grammar_is_name_invalid(as_alice):
    response = as_alice.get("/v2/Alice/App/manifests/latest")
    assert response.status_code == 400
    assert error_codes(response) == ["NAME_INVALID"]


@pytest.mark.parametrize("name", ["a", "alice/" + "a" * 250])
def test_a_name_of_the_grammars_characters_but_not_its_length_is_name_invalid(as_alice, name):
    for method, path in (
        ("PUT", f"/v2/{name}/manifests/latest"),
        ("POST", f"/v2/{name}/blobs/uploads/"),
        ("GET", f"/v2/{name}/tags/list"),
    ):
        response = as_alice.request(method, path, b"{}" if method == "PUT" else b"")
        assert response.status_code == 400, (method, response.content)
        assert error_codes(response) == ["NAME_INVALID"]


def test_unknown_endpoint_answers_json(as_alice):
    response = as_alice.get("/v2/alice/app/nothing-here")
    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]


@pytest.mark.parametrize(
    "path",
    [
        "/v2//alice/app/tags/list",
        "/v2/alice/app//manifests/latest",
        "/v2/alice/app//blobs/uploads/",
    ],
)
def test_a_name_with_a_leading_or_trailing_slash_is_name_invalid(as_alice, path):
    response = as_alice.get(path)
    assert response.status_code == 400
    assert error_codes(response) == ["NAME_INVALID"]


def test_unsupported_method_is_405_unsupported(as_alice):
    response = as_alice.request("POST", "/v2/alice/app/tags/list")
    assert response.status_code == 405
    assert error_codes(response) == ["UNSUPPORTED"]


def test_hostile_long_path_is_answered_quickly(as_alice):
    response = as_alice.get("/v2/" + "a-" * 2000 + "!/manifests/latest")
    assert response.status_code in (400, 404)


def test_a_valid_name_on_an_unknown_route_is_not_called_invalid(as_alice):
    response = as_alice.get("/v2/alice/app/manifests/")
    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]
