import importlib
import json

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import mediatypes
from registry.models import Manifest, Repository
from tests.oci import error_codes, sha256

pytestmark = pytest.mark.django_db


def tag_all(client, name, tags):
    _, body = client.push_image(name, tags[0])
    for tag in tags[1:]:
        assert client.push_manifest(name, tag, body).status_code == 201


def test_tags_are_listed_in_lexical_order(as_alice):
    tag_all(as_alice, "alice/app", ["b", "a", "B", "10", "9", "a-1", "a_1"])
    response = as_alice.get("/v2/alice/app/tags/list")
    assert json.loads(response.content) == {
        "name": "alice/app",
        "tags": ["10", "9", "B", "a", "a-1", "a_1", "b"],
    }


def test_tags_paginate_with_n_last_and_a_link_header(as_alice):
    tag_all(as_alice, "alice/app", ["t1", "t2", "t3", "t4", "t5"])
    first = as_alice.get("/v2/alice/app/tags/list?n=2")
    assert json.loads(first.content)["tags"] == ["t1", "t2"]
    assert first["Link"] == '</v2/alice/app/tags/list?n=2&last=t2>; rel="next"'
    last = as_alice.get("/v2/alice/app/tags/list?n=2&last=t4")
    assert json.loads(last.content)["tags"] == ["t5"]
    assert "Link" not in last


def test_tags_page_size_is_capped(as_alice, settings):
    settings.BERTH_TAGS_PAGE_MAX = 2
    tag_all(as_alice, "alice/app", ["a", "b", "c"])
    assert json.loads(as_alice.get("/v2/alice/app/tags/list?n=100").content)["tags"] == ["a", "b"]


def test_n_zero_lists_no_tags(as_alice):
    tag_all(as_alice, "alice/app", ["a"])
    assert json.loads(as_alice.get("/v2/alice/app/tags/list?n=0").content)["tags"] == []


@pytest.mark.parametrize("n", ["-1", "many", "%201", "1_0", "%EF%BC%91"])
def test_invalid_n_is_a_400(as_alice, n):
    tag_all(as_alice, "alice/app", ["a"])
    assert as_alice.get(f"/v2/alice/app/tags/list?n={n}").status_code == 400


def test_tags_of_an_unknown_repository_is_name_unknown(as_alice):
    assert error_codes(as_alice.get("/v2/alice/none/tags/list")) == ["NAME_UNKNOWN"]


def push_referrer(client, subject, subject_body, artifact_type, annotations=None):
    layer = client.push_blob("alice/app", artifact_type.encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": mediatypes.OCI_EMPTY, "digest": sha256(b"{}"), "size": 2},
        "layers": [
            {"mediaType": "application/octet-stream", "digest": layer, "size": len(artifact_type)}
        ],
        "subject": {
            "mediaType": mediatypes.OCI_MANIFEST,
            "digest": subject,
            "size": len(subject_body),
        },
    }
    if annotations:
        manifest["annotations"] = annotations
    body = json.dumps(manifest).encode()
    assert client.push_manifest("alice/app", sha256(body), body).status_code == 201
    return sha256(body)


def test_referrers_lists_manifests_whose_subject_is_the_digest(as_alice):
    subject, body = as_alice.push_image("alice/app", "v1")
    signature = push_referrer(as_alice, subject, body, "application/vnd.example.sig", {"k": "v"})
    response = as_alice.get(f"/v2/alice/app/referrers/{subject}")
    assert response.status_code == 200
    assert response["Content-Type"] == mediatypes.OCI_INDEX
    index = json.loads(response.content)
    assert index["schemaVersion"] == 2
    [entry] = index["manifests"]
    assert entry["digest"] == signature
    assert entry["artifactType"] == "application/vnd.example.sig"
    assert entry["annotations"] == {"k": "v"}


def test_referrers_are_listed_without_reading_their_bodies(as_alice):
    # A manifest may be 4 MiB: parsing every referrer's body made one anonymous GET cost
    # seconds of CPU and all their bodies in memory at once.
    subject, body = as_alice.push_image("alice/app", "v1")
    push_referrer(as_alice, subject, body, "application/vnd.example.sig", {"k": "\x00\ud800"})
    with CaptureQueriesContext(connection) as queries:
        response = as_alice.get(f"/v2/alice/app/referrers/{subject}")
    [entry] = json.loads(response.content)["manifests"]
    assert entry["annotations"] == {"k": "\x00\ud800"}
    assert not any('"body"' in query["sql"] for query in queries.captured_queries)


def test_referrers_pushed_before_their_annotations_were_recorded_get_them_on_migrate(as_alice):
    subject, body = as_alice.push_image("alice/app", "v1")
    referrer = push_referrer(as_alice, subject, body, "application/vnd.example.sig", {"k": "v"})
    Manifest.objects.update(annotations="")
    migration = importlib.import_module("registry.migrations.0007_manifest_annotations")
    migration.annotations_of_referrers(django_apps, None)
    assert Manifest.objects.get(digest=referrer).annotations == '{"k": "v"}'
    assert Manifest.objects.get(digest=subject).annotations == ""


def test_referrers_filter_by_artifact_type(as_alice):
    subject, body = as_alice.push_image("alice/app", "v1")
    push_referrer(as_alice, subject, body, "application/vnd.example.sig")
    sbom = push_referrer(as_alice, subject, body, "application/vnd.example.sbom")
    response = as_alice.get(
        f"/v2/alice/app/referrers/{subject}?artifactType=application/vnd.example.sbom"
    )
    assert response["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in json.loads(response.content)["manifests"]] == [sbom]


def test_referrers_of_an_unknown_subject_is_an_empty_index(as_alice):
    response = as_alice.get(f"/v2/alice/new/referrers/{sha256(b'nothing')}")
    assert response.status_code == 200
    assert json.loads(response.content)["manifests"] == []


def test_referrers_with_a_malformed_digest_is_400(as_alice):
    as_alice.push_image("alice/app", "v1")
    assert as_alice.get("/v2/alice/app/referrers/sha256:zz").status_code == 400


def test_catalog_lists_only_what_the_caller_may_see(as_alice, as_bob, anonymous):
    as_alice.push_image("alice/public")
    as_alice.push_image("alice/secret")
    as_bob.push_image("bob/tool")
    Repository.objects.filter(name="alice/secret").update(is_private=True)
    assert json.loads(anonymous.get("/v2/_catalog").content)["repositories"] == [
        "alice/public",
        "bob/tool",
    ]
    assert json.loads(as_alice.get("/v2/_catalog").content)["repositories"] == [
        "alice/public",
        "alice/secret",
        "bob/tool",
    ]


def test_catalog_paginates(as_alice):
    for name in ("alice/a", "alice/b", "alice/c"):
        as_alice.push_image(name)
    response = as_alice.get("/v2/_catalog?n=2")
    assert json.loads(response.content)["repositories"] == ["alice/a", "alice/b"]
    assert response["Link"] == '</v2/_catalog?n=2&last=alice%2Fb>; rel="next"'
    assert json.loads(as_alice.get("/v2/_catalog?n=2&last=alice/b").content)["repositories"] == [
        "alice/c"
    ]


def test_referrers_come_in_pages_linked_by_the_link_header(as_alice, monkeypatch):
    from registry import services

    monkeypatch.setattr(services, "REFERRERS_PAGE", 2)
    subject, body = as_alice.push_image("alice/app", "v1")
    kinds = [f"application/vnd.example.{n}" for n in range(3)]
    pushed = [push_referrer(as_alice, subject, body, kind) for kind in kinds]
    pushed.append(push_referrer(as_alice, subject, body, "application/vnd.example.sig", {"a": "b"}))
    seen, path = [], f"/v2/alice/app/referrers/{subject}"
    while path:
        response = as_alice.get(path)
        assert response.status_code == 200
        seen += [m["digest"] for m in json.loads(response.content)["manifests"]]
        link = response.get("Link", "")
        path = link[1 : link.index(">")] if link else ""
        assert len(seen) <= len(pushed)
    assert seen == pushed
    # A filter is kept from page to page.
    response = as_alice.get(f"/v2/alice/app/referrers/{subject}?artifactType={kinds[1]}")
    assert [m["digest"] for m in json.loads(response.content)["manifests"]] == [pushed[1]]
    assert "Link" not in response
