"""An image's vulnerabilities, its rescan and its SBOM under /api/v1/."""

import pytest
from rest_framework.test import APIClient

from gallery.vulnerabilities import services as vulnerabilities
from registry.access import ratelimit
from registry.scanning.models import AdvisoryImport, ImageScan
from tests.gallery.api.conftest import as_user

pytestmark = pytest.mark.django_db
CYCLONEDX = "application/vnd.cyclonedx+json"


def image(digest: str, suffix: str = "vulnerabilities", name: str = "alice/app") -> str:
    return f"/api/v1/repositories/{name}/-/images/{digest}/{suffix}"


def packages(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [finding["package"] for finding in response.json()["findings"]]


# -- GET …/vulnerabilities ----------------------------------------------------------------------


def test_an_image_reads_with_its_status_summary_database_age_and_findings(api, scanned):
    data = api.get(image(scanned.old)).json()
    assert data["digest"] == scanned.old
    assert data["status"] == "done"
    assert data["database_updated_at"] is not None
    [platform] = data["platforms"]
    assert platform["platform"] == "linux/amd64"
    assert platform["status"] == "done"
    assert platform["summary"] == {"critical": 0, "high": 1, "medium": 1, "low": 0, "unknown": 2}
    assert platform["distribution"] == "debian 12"
    assert platform["scanned_at"] is not None
    assert data["count"] == 4
    lodash = data["findings"][0]
    assert {k: lodash[k] for k in ("package", "installed_version", "fixed_version")} == {
        "package": "lodash",
        "installed_version": "4.17.20",
        "fixed_version": "4.17.21",
    }
    assert lodash["advisory_id"] == "GHSA-35jh-r3h4-6jhm"
    assert lodash["aliases"] == ["CVE-2021-23337"]
    assert lodash["url"].startswith("https://")
    assert lodash["severity"] == "high"
    assert lodash["cvss_score"] == pytest.approx(7.2)
    assert lodash["layer_digest"].startswith("sha256:")
    assert lodash["path"] == "/srv/node_modules/lodash/package.json"
    assert lodash["fixed_in_tag"] == "1.1"
    assert lodash["image_digest"] == scanned.old


def test_an_index_reads_per_platform(api, scanned_index):
    data = api.get(image(scanned_index)).json()
    assert [p["platform"] for p in data["platforms"]] == ["linux/amd64", "linux/arm64"]
    assert all(p["summary"]["high"] == 1 for p in data["platforms"])
    assert data["count"] == 8
    arm = api.get(image(scanned_index) + "?platform=linux/arm64").json()
    assert {f["platform"] for f in arm["findings"]} == {"linux/arm64"}
    assert arm["count"] == 4


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?severity=high", ["lodash"]),
        ("?severity=high,medium", ["lodash", "requests"]),
        ("?severity=high&severity=medium", ["lodash", "requests"]),
        ("?severity=critical", []),
        ("?package=REQ", ["requests"]),
        ("?package=o&ordering=package", ["coreutils", "lodash"]),
        ("?ordering=package", ["apt", "coreutils", "lodash", "requests"]),
        ("?ordering=score&severity=high,medium", ["lodash", "requests"]),
    ],
)
def test_findings_filter_and_order(api, scanned, query, expected):
    assert packages(api.get(image(scanned.old) + query)) == expected


def test_findings_order_by_advisory(api, scanned):
    data = api.get(image(scanned.old) + "?ordering=advisory").json()
    ids = [finding["advisory_id"] for finding in data["findings"]]
    assert ids == sorted(ids)


def test_findings_page_with_limit_and_offset(api, scanned):
    first = api.get(image(scanned.old) + "?limit=3&ordering=package").json()
    assert [f["package"] for f in first["findings"]] == ["apt", "coreutils", "lodash"]
    assert first["count"] == 4
    assert first["previous"] is None
    second = api.get(first["next"]).json()
    assert [f["package"] for f in second["findings"]] == ["requests"]
    assert second["next"] is None
    assert "offset=0" in second["previous"]
    assert "ordering=package" in second["previous"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?severity=urgent", "severity"),
        ("?ordering=size", "ordering"),
        ("?limit=0", "limit"),
        ("?limit=5000", "limit"),
        ("?offset=-1", "offset"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(api, scanned, query, field):
    response = api.get(image(scanned.old) + query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]


def test_an_image_being_scanned_says_so(api, scanned):
    ImageScan.objects.filter(digest=scanned.old).update(status="scanning")
    assert api.get(image(scanned.old)).json()["status"] == "scanning"
    ImageScan.objects.filter(digest=scanned.old).update(status="failed", reason="too big")
    data = api.get(image(scanned.old)).json()
    assert data["status"] == "failed"
    assert data["platforms"][0]["reason"] == "too big"
    ImageScan.objects.filter(digest=scanned.old).delete()
    assert api.get(image(scanned.old)).json()["status"] == "not_scanned"


def test_without_advisories_the_database_age_is_null(api, scanned):
    AdvisoryImport.objects.all().delete()
    assert api.get(image(scanned.old)).json()["database_updated_at"] is None


def test_an_artifact_has_no_platforms_to_scan(api, chart):
    data = api.get(image(chart, name="alice/chart")).json()
    assert (data["status"], data["platforms"], data["findings"]) == ("not_scanned", [], [])


def test_reads_carry_an_etag(api, scanned):
    first = api.get(image(scanned.old))
    assert first["ETag"]
    assert api.get(image(scanned.old), HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


# -- unknown images and private repositories ----------------------------------------------------

SUFFIXES = ["vulnerabilities", "sbom"]


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("digest", ["sha256:" + "0" * 64, "nonsense", "1.0"])
def test_an_unknown_or_malformed_digest_is_a_404(api, scanned, suffix, digest):
    response = api.get(image(digest, suffix))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such image."}}


@pytest.mark.parametrize("who", [None, "bob"])
def test_a_private_repository_answers_exactly_as_a_missing_one(scanned_secret, bob, who):
    client = as_user(who) if who else APIClient()
    for suffix in SUFFIXES:
        private = client.get(image(scanned_secret, suffix, "alice/secret"))
        missing = client.get(image(scanned_secret, suffix, "alice/missing"))
        assert private.status_code == missing.status_code == 404
        assert private.content == missing.content
        assert private["Content-Type"] == missing["Content-Type"]
    private = client.post(image(scanned_secret, "vulnerabilities/scan", "alice/secret"))
    missing = client.post(image(scanned_secret, "vulnerabilities/scan", "alice/missing"))
    assert private.status_code == missing.status_code == 404
    assert private.content == missing.content
    assert ImageScan.objects.get(digest=scanned_secret).status == "done"


def test_an_index_naming_another_publishers_private_image_reads_nothing_of_it(
    scanned_secret, as_bob
):
    """A sparse index may name children its repository does not hold. bob's index naming
    the digest of alice's private image must not read that image's scan: its findings,
    its packages (the SBOM), not even whether it was scanned."""
    from gallery import services
    from registry import mediatypes
    from registry.models import Manifest, Repository

    secret = Manifest.objects.get(repository__name="alice/secret", digest=scanned_secret)
    child = {"mediaType": secret.media_type, "digest": scanned_secret, "size": secret.size}
    child["platform"] = {"architecture": "amd64", "os": "linux"}
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [child]}
    response = as_bob.push_manifest("bob/spy", "1", index, mediatypes.OCI_INDEX)
    assert response.status_code == 201, response.content
    digest = response["Docker-Content-Digest"]
    services.index_repository(repository_id=Repository.objects.get(name="bob/spy").pk)
    bobs = as_user("bob")
    data = bobs.get(image(digest, name="bob/spy")).json()
    assert data["count"] == 0
    assert data["findings"] == []
    [platform] = data["platforms"]
    assert (platform["status"], platform["scanned_at"]) == ("not_scanned", None)
    assert set(platform["summary"].values()) == {0}
    sbom = bobs.get(image(digest, "sbom", "bob/spy"))
    assert sbom.status_code == 404 or not sbom.json().get("components")
    html = bobs.get(f"/r/bob/spy/-/images/{digest}").content.decode()
    assert "lodash" not in html
    # alice's own repository still reads it.
    assert as_user("alice").get(image(scanned_secret, name="alice/secret")).json()["count"] == 4


def test_the_owner_reads_a_private_repositorys_findings(scanned_secret, alice):
    response = as_user("alice").get(image(scanned_secret, name="alice/secret"))
    assert response.status_code == 200
    assert response.json()["count"] == 4


# -- POST …/vulnerabilities/scan ----------------------------------------------------------------


def rescan(client, digest: str, name: str = "alice/app"):
    return client.post(image(digest, "vulnerabilities/scan", name))


def test_a_publisher_rescans_and_gets_202_with_the_status(scanned, alice):
    response = rescan(as_user("alice"), scanned.old)
    assert response.status_code == 202, response.content
    data = response.json()
    assert data["status"] == "queued"
    assert [p["status"] for p in data["platforms"]] == ["queued"]
    assert "findings" not in data
    assert response["Location"].endswith(image(scanned.old))
    assert ImageScan.objects.get(digest=scanned.old).status == "queued"


def test_a_rescan_of_an_index_queues_every_platform(scanned_index, alice):
    data = rescan(as_user("alice"), scanned_index).json()
    assert [p["status"] for p in data["platforms"]] == ["queued", "queued"]


def test_a_rescan_needs_credentials_and_the_right_to_push(api, scanned, bob):
    anonymous = rescan(api, scanned.old)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    stranger = rescan(as_user("bob"), scanned.old)
    assert stranger.status_code == 403
    assert stranger.json()["error"]["code"] == "permission_denied"
    assert ImageScan.objects.get(digest=scanned.old).status == "done"


@pytest.mark.parametrize(
    ("scopes", "code"),
    [
        (["api-write", "push"], 202),
        (["api-read", "pull", "push"], 403),  # a write through the API needs api-write
        (["api-write", "pull"], 403),  # and the right to push
    ],
)
def test_a_rescan_with_an_access_token_needs_api_write_and_push(scanned, alice, scopes, code):
    from registry.access import credentials

    _, secret = credentials.create_token(user=alice, name="ci", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert rescan(client, scanned.old).status_code == code
    assert client.get(image(scanned.old)).status_code == (200 if "api-read" in scopes else 403)


def test_a_session_rescan_needs_its_csrf_token(scanned, alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = rescan(client, scanned.old)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_rescans_are_limited_per_user(scanned, alice, monkeypatch):
    monkeypatch.setattr(vulnerabilities.RESCANS, "rate", ratelimit.Rate(1, 3600))
    client = as_user("alice")
    assert rescan(client, scanned.old).status_code == 202
    response = rescan(client, scanned.new)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "throttled"
    assert ImageScan.objects.get(digest=scanned.new).status == "done"


def test_rescanning_an_artifact_is_a_409(chart, alice):
    response = rescan(as_user("alice"), chart, "alice/chart")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_an_image"


def test_rescanning_an_unknown_image_is_a_404(scanned, alice):
    response = rescan(as_user("alice"), "sha256:" + "0" * 64)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_get_on_the_scan_path_is_a_405(api, scanned):
    response = api.get(image(scanned.old, "vulnerabilities/scan"))
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


# -- GET …/sbom ---------------------------------------------------------------------------------


def test_the_sbom_is_cyclonedx_json(api, scanned):
    response = api.get(image(scanned.old, "sbom"))
    assert response.status_code == 200
    assert response["Content-Type"] == CYCLONEDX
    assert response["Content-Disposition"].endswith('.cdx.json"')
    document = response.json()
    assert (document["bomFormat"], document["specVersion"]) == ("CycloneDX", "1.6")
    assert document["metadata"]["component"]["version"] == scanned.old
    [platform] = document["components"]
    purls = {component["purl"] for component in platform["components"]}
    assert "pkg:npm/lodash@4.17.20" in purls


def test_an_index_sbom_has_a_component_per_platform(api, scanned_index):
    document = api.get(image(scanned_index, "sbom")).json()
    assert len(document["components"]) == 2


def test_an_image_not_scanned_yet_has_no_sbom(api, scanned):
    ImageScan.objects.filter(digest=scanned.old).update(status="queued")
    response = api.get(image(scanned.old, "sbom"))
    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_scanned"


def test_an_artifact_has_no_sbom(api, chart):
    response = api.get(image(chart, "sbom", "alice/chart"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# -- POST …/sbom: attaching it as a referrer ----------------------------------------------------


def test_a_publisher_attaches_the_sbom_as_a_referrer_any_client_finds(api, scanned, alice):
    response = as_user("alice").post(image(scanned.old, "sbom"))
    assert response.status_code == 201, response.content
    attached = response.json()
    assert attached["artifactType"] == CYCLONEDX
    assert attached["subject"] == scanned.old
    assert response["Location"].endswith(f"/v2/alice/app/manifests/{attached['digest']}")
    referrers = api.get(f"/v2/alice/app/referrers/{scanned.old}").json()["manifests"]
    assert [(r["digest"], r["artifactType"]) for r in referrers] == [
        (attached["digest"], CYCLONEDX)
    ]
    # Asked again before a new scan: the same referrer, nothing pushed twice.
    again = as_user("alice").post(image(scanned.old, "sbom"))
    assert (again.status_code, again.json()["digest"]) == (200, attached["digest"])


def test_attaching_needs_the_right_to_push_and_a_finished_scan(api, scanned, bob):
    assert api.post(image(scanned.old, "sbom")).status_code == 401
    assert as_user("bob").post(image(scanned.old, "sbom")).status_code == 403
    ImageScan.objects.filter(digest=scanned.new).update(status="queued")
    response = as_user("alice").post(image(scanned.new, "sbom"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_scanned"
    assert api.get(f"/v2/alice/app/referrers/{scanned.old}").json()["manifests"] == []


def test_an_artifact_gets_no_sbom_attached(chart, alice):
    response = as_user("alice").post(image(chart, "sbom", "alice/chart"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_an_image"


# -- the schema ---------------------------------------------------------------------------------


def test_the_schema_documents_the_three_endpoints(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    base = "/api/v1/repositories/{name}/-/images/{digest}"
    read = schema["paths"][f"{base}/vulnerabilities"]["get"]
    assert read["operationId"] == "image_vulnerabilities"
    assert {p["name"] for p in read["parameters"]} >= {
        "severity",
        "package",
        "platform",
        "ordering",
        "limit",
        "offset",
    }
    report = read["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert report.endswith("/VulnerabilityReport")
    scan = schema["paths"][f"{base}/vulnerabilities/scan"]["post"]
    assert scan["operationId"] == "image_vulnerabilities_scan"
    assert set(scan["responses"]) >= {"202", "401", "403", "404", "409", "429"}
    sbom = schema["paths"][f"{base}/sbom"]["get"]
    assert CYCLONEDX in sbom["responses"]["200"]["content"]
    finding = schema["components"]["schemas"]["Finding"]["properties"]
    assert {"fixed_in_tag", "layer_digest", "advisory_id", "cvss_score"} <= set(finding)
