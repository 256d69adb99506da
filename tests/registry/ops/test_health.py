import pytest
from django.test import Client

from registry.ops import health

pytestmark = pytest.mark.django_db


def test_health_answers_without_touching_anything():
    response = Client().get("/-/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_checks_database_cache_storage_and_key_service():
    response = Client().get("/-/ready")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert set(checks) == {"database", "cache", "storage", "key_service"}
    assert all(check["ok"] for check in checks.values())
    assert checks["key_service"]["detail"] == "local"


def test_readiness_is_503_when_a_dependency_fails(monkeypatch):
    def broken():
        raise OSError("bucket unreachable")

    monkeypatch.setitem(health.CHECKS, "storage", broken)
    response = Client().get("/-/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == {
        "ok": False,
        "detail": "OSError: bucket unreachable",
        "ms": response.json()["checks"]["storage"]["ms"],
    }


def test_probes_are_not_redirected_to_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/-/health").status_code == 200
    assert Client().get("/-/ready").status_code == 200
    assert Client().get("/search").status_code == 301


def test_readiness_reports_an_unavailable_kms_key(settings, moto):
    settings.BERTH_KMS_KEY_ID = "alias/does-not-exist"
    response = Client().get("/-/ready")
    assert response.status_code == 503
    assert not response.json()["checks"]["key_service"]["ok"]
