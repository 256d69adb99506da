"""Vulnerabilities in the pages: the Tags tab's badges, the image page's scan panel, the
findings page (filters, sorting, "fixed in"), the comparison of two tags and the rescan."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from gallery.vulnerabilities import services as vulnerabilities
from registry.access import ratelimit
from registry.scanning.models import AdvisoryImport, ImageScan
from tests.gallery.conftest import publish
from tests.registry.scanning.test_services import app_layer, debian_base

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def row_of(html: str, tag: str) -> str:
    """The Tags tab's row of the image tagged `tag`."""
    rows = re.findall(r"<tr>.*?</tr>", html, re.S)
    return next(row for row in rows if f">{tag}</a>" in row)


def findings_page(digest: str, query: str = "") -> str:
    return f"/r/alice/app/-/images/{digest}/vulnerabilities{query}"


# -- the Tags tab and the repository page -------------------------------------------------------


def test_the_tags_tab_shows_a_severity_summary_per_tag(scanned):
    html = html_of(Client().get("/r/alice/app/-/tags"))
    old, new = row_of(html, "1.0"), row_of(html, "1.1")
    assert 'class="sev sev-high"' in old
    assert ">1 high" in old
    assert ">1 medium" in old
    assert ">2 unknown" in old
    assert "sev-high" not in new
    assert ">1 medium" in new
    assert findings_page(scanned.old) in old


def test_the_tags_tab_shows_each_platform_of_an_index(scanned_index):
    html = html_of(Client().get("/r/alice/app/-/tags"))
    row = row_of(html, "multi")
    children = re.findall(r"<li>.*?</li>", row, re.S)
    assert len(children) == 2
    for child in children:
        assert 'class="sev sev-high"' in child
        assert "/vulnerabilities" in child


def test_the_tags_tab_reads_the_summaries_of_a_page_at_once(scanned, as_alice):
    from registry.scanning import services as scanning

    def queries() -> int:
        scanning._IMAGES_MEMO.clear()  # as a fresh process: the manifests are read, in one go
        with CaptureQueriesContext(connection) as captured:
            html_of(Client().get("/r/alice/app/-/tags"))
        return len(captured)

    queries()  # the first visit writes the catalog's text row
    before = queries()
    for version in ("1.2", "1.3", "1.4"):
        publish(as_alice, "alice/app", version, debian_base(), app_layer(requests=version))
    assert queries() == before


def test_scan_status_shows_queued_scanning_and_failed_with_its_reason(scanned):
    ImageScan.objects.filter(digest=scanned.old).update(status="failed", reason="layer too big")
    ImageScan.objects.filter(digest=scanned.new).update(status="scanning")
    html = html_of(Client().get("/r/alice/app/-/tags"))
    failed = 'class="scan-status scan-failed" title="layer too big">Scan failed'
    assert failed in row_of(html, "1.0")
    assert "Scanning…" in row_of(html, "1.1")
    ImageScan.objects.filter(digest=scanned.new).update(status="queued")
    assert ">Queued<" in row_of(html_of(Client().get("/r/alice/app/-/tags")), "1.1")
    page = html_of(Client().get(findings_page(scanned.old)))
    assert "The scan failed: layer too big" in page


def test_the_tags_tab_links_each_tag_to_a_comparison_with_the_next(scanned):
    html = html_of(Client().get("/r/alice/app/-/tags"))
    assert "/r/alice/app/-/compare?base=1.0&amp;head=1.1" in row_of(html, "1.1")
    assert 'href="/r/alice/app/-/compare"' in html


def test_artifacts_that_are_not_images_show_no_badges(chart):
    html = html_of(Client().get("/r/alice/chart/-/tags"))
    assert "scan-badges" not in html
    assert "Only container images are scanned" in html


def test_the_repository_page_shows_the_newest_tags_summary(scanned):
    html = html_of(Client().get("/r/alice/app"))
    side = html[html.index('class="repo-side"') :]
    assert "Vulnerabilities of <code>1.1</code>" in side
    assert "1 medium" in side
    assert findings_page(scanned.new) in side
    assert "Advisory database updated" in side


def test_without_advisories_nothing_claims_an_image_is_clean(scanned):
    AdvisoryImport.objects.all().delete()
    ImageScan.objects.update(critical=0, high=0, medium=0, low=0, unknown=0)
    for path in ("/r/alice/app/-/tags", "/r/alice/app/-/tags/1.1", findings_page(scanned.new)):
        html = html_of(Client().get(path))
        assert "No known vulnerabilities" not in html
        assert "None known" not in html
        assert "Not checked" not in html  # read beside "Scanned 4 minutes ago"
    assert "No advisory database has been imported yet" in html
    assert "No advisories yet" in html_of(Client().get("/r/alice/app/-/tags"))


# -- the image page -----------------------------------------------------------------------------


def test_the_image_page_shows_the_summary_database_age_findings_and_sbom_links(scanned):
    html = html_of(Client().get("/r/alice/app/-/tags/1.0"))
    panel = html[html.index('id="vulnerabilities"') :]
    assert "1 high" in panel
    assert "Scanned <time" in panel
    assert "debian 12" in panel
    assert "Advisory database updated" in panel
    assert f'href="{findings_page(scanned.old)}"' in panel
    assert "See the 4 findings" in panel
    assert f'href="/api/v1/repositories/alice/app/-/images/{scanned.old}/sbom" download' in panel


def test_the_image_page_of_an_index_shows_each_platforms_badges(scanned_index):
    html = html_of(Client().get(f"/r/alice/app/-/images/{scanned_index}"))
    assert "2 platforms" in html
    titles = re.findall(r'<h3 id="platform-\d+" class="platform-title">.*?</h3>', html, re.S)
    assert len(titles) == 2
    assert all('class="sev sev-high"' in title for title in titles)


def test_only_those_who_may_push_see_the_rescan_button(scanned, alice, bob):
    assert "Scan again" in html_of(signed_in(alice).get("/r/alice/app/-/tags/1.0"))
    assert "Scan again" not in html_of(signed_in(bob).get("/r/alice/app/-/tags/1.0"))
    assert "Scan again" not in html_of(Client().get("/r/alice/app/-/tags/1.0"))


def test_an_artifact_page_has_no_scan_panel(chart):
    html = html_of(Client().get("/r/alice/chart/-/tags/0.1.0"))
    assert 'id="vulnerabilities"' not in html


# -- the findings page --------------------------------------------------------------------------


def test_the_findings_page_lists_every_finding_with_its_details(scanned):
    html = html_of(Client().get(findings_page(scanned.old)))
    lodash = row_of(html, "GHSA-35jh-r3h4-6jhm")
    assert "<strong>lodash</strong>" in lodash
    assert "<code>4.17.20</code>" in lodash
    assert "<code>4.17.21</code>" in lodash
    assert '<a href="https://nvd.nist.gov/vuln/detail/CVE-2021-23337"' in lodash
    assert "CVE-2021-23337" in lodash
    assert 'class="sev sev-high">High' in lodash
    assert f'href="/r/alice/app/-/images/{scanned.old}#layer-2"' in lodash
    assert 'href="/r/alice/app/-/tags/1.1">1.1</a>' in lodash  # fixed in
    assert "4 findings." in html


def test_the_findings_page_filters_by_severity_and_package(scanned):
    high = html_of(Client().get(findings_page(scanned.old, "?severity=high")))
    assert "<strong>lodash</strong>" in high
    assert "<strong>requests</strong>" not in high
    assert "1 finding matching the filters." in high
    package = html_of(Client().get(findings_page(scanned.old, "?package=REQ")))
    assert re.findall(r"<strong>([^<]+)</strong>", package) == ["requests"]
    none = html_of(Client().get(findings_page(scanned.old, "?package=nothing")))
    assert "No finding matches these filters." in none


def test_the_findings_page_sorts_by_package_and_advisory(scanned):
    by_package = html_of(Client().get(findings_page(scanned.old, "?sort=package")))
    assert re.findall(r"<strong>([^<]+)</strong>", by_package) == [
        "apt",
        "coreutils",
        "lodash",
        "requests",
    ]
    assert '<th scope="col" aria-sort="ascending"><a href="?sort=package">Package' in by_package
    by_severity = html_of(Client().get(findings_page(scanned.old)))
    assert re.findall(r"<strong>([^<]+)</strong>", by_severity)[:2] == ["lodash", "requests"]


@pytest.mark.parametrize(
    "query", ["?severity=urgent", "?sort=size", "?page=99", "?page=x", "?platform=" + "x" * 500]
)
def test_the_findings_page_forgives_bad_parameters(scanned, query):
    assert Client().get(findings_page(scanned.old, query)).status_code == 200


def test_the_findings_page_of_an_index_names_the_platform_and_filters_by_it(scanned_index):
    html = html_of(Client().get(findings_page(scanned_index)))
    assert html.count('<td data-label="Platform">') == 8
    arm = html_of(Client().get(findings_page(scanned_index, "?platform=linux/arm64")))
    assert arm.count('<td data-label="Platform">') == 4
    assert "linux/amd64</span></td>" not in arm


def test_the_findings_page_pages_through_many_findings(scanned, monkeypatch):
    monkeypatch.setattr("gallery.vulnerabilities.views.FINDINGS_PER_PAGE", 3)
    first = html_of(Client().get(findings_page(scanned.old)))
    assert "Page 1 of 2" in first
    second = html_of(Client().get(findings_page(scanned.old, "?page=2")))
    assert len(re.findall(r"<strong>([^<]+)</strong>", second)) == 1


@pytest.mark.parametrize("digest", ["1.0", "sha256:" + "0" * 64, "nonsense"])
def test_unknown_images_have_no_findings_page(scanned, digest):
    assert Client().get(findings_page(digest)).status_code == 404


def test_an_artifact_has_no_findings_page(chart):
    assert Client().get(f"/r/alice/chart/-/images/{chart}/vulnerabilities").status_code == 404


def test_findings_of_a_private_repository_are_a_404_to_others(scanned_secret, alice, bob):
    path = f"/r/alice/secret/-/images/{scanned_secret}/vulnerabilities"
    missing = f"/r/alice/missing/-/images/{scanned_secret}/vulnerabilities"
    for client in (Client(), signed_in(bob)):
        assert client.get(path).status_code == client.get(missing).status_code == 404
        assert client.get("/r/alice/secret/-/compare?base=1.0&head=1.0").status_code == 404
    assert "lodash" in html_of(signed_in(alice).get(path))


# -- the comparison of two tags -----------------------------------------------------------------


def test_comparing_two_tags_lists_findings_added_and_removed(scanned):
    html = html_of(Client().get("/r/alice/app/-/compare?base=1.0&head=1.1"))
    assert "New in 1.1" in html
    assert "1.1 has no known vulnerability that 1.0 has not." in html
    gone = html[html.index("Gone in 1.1") :]
    assert "<strong>lodash</strong>" in gone
    assert "GHSA-35jh-r3h4-6jhm" in gone
    assert "<strong>requests</strong>" not in gone
    swapped = html_of(Client().get("/r/alice/app/-/compare?base=1.1&head=1.0"))
    added = swapped[swapped.index("New in 1.0") : swapped.index("Gone in 1.0")]
    assert "<strong>lodash</strong>" in added


def test_comparing_with_an_unknown_tag_says_which(scanned):
    html = html_of(Client().get("/r/alice/app/-/compare?base=1.0&head=9.9"))
    assert "alice/app has no tag “9.9”." in html
    assert "Choose two tags" in html_of(Client().get("/r/alice/app/-/compare?base=1.0"))
    form = html_of(Client().get("/r/alice/app/-/compare"))
    assert '<option value="1.0">' in form


def test_comparing_a_tag_with_itself_asks_for_another(scanned):
    html = html_of(Client().get("/r/alice/app/-/compare?base=1.1&head=1.1"))
    assert "Choose two different tags to compare." in html
    assert "New in 1.1" not in html


def test_a_comparison_with_a_side_not_scanned_says_it_is_not_final(scanned):
    ImageScan.objects.filter(digest=scanned.new).update(status="queued")
    html = html_of(Client().get("/r/alice/app/-/compare?base=1.0&head=1.1"))
    assert "The comparison is not final." in html


# -- rescans ------------------------------------------------------------------------------------


def rescan_path(digest: str) -> str:
    return f"/r/alice/app/-/images/{digest}/vulnerabilities/scan"


def test_a_publisher_rescans_an_image(scanned, alice):
    response = signed_in(alice).post(rescan_path(scanned.old), follow=True)
    assert response.redirect_chain == [(findings_page(scanned.old), 302)]
    assert "A new scan is queued." in response.content.decode()
    assert ImageScan.objects.get(digest=scanned.old).status == "queued"
    assert ImageScan.objects.get(digest=scanned.new).status == "done"


def test_only_publishers_may_rescan(scanned, bob):
    assert signed_in(bob).post(rescan_path(scanned.old)).status_code == 403
    anonymous = Client().post(rescan_path(scanned.old))
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    assert ImageScan.objects.get(digest=scanned.old).status == "done"


def test_a_rescan_is_a_post_with_its_csrf_token(scanned, alice):
    assert signed_in(alice).get(rescan_path(scanned.old)).status_code == 405
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(rescan_path(scanned.old)).status_code == 403
    assert ImageScan.objects.get(digest=scanned.old).status == "done"


def test_rescans_are_limited_per_user(scanned, alice, monkeypatch):
    monkeypatch.setattr(vulnerabilities.RESCANS, "rate", ratelimit.Rate(1, 3600))
    client = signed_in(alice)
    assert client.post(rescan_path(scanned.old)).status_code == 302
    response = client.post(rescan_path(scanned.new))
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "You have asked for many scans lately" in response.content.decode()
    assert ImageScan.objects.get(digest=scanned.new).status == "done"


def test_rescanning_an_unknown_image_or_a_private_ones_is_a_404(scanned_secret, scanned, bob):
    client = signed_in(bob)
    private = client.post(f"/r/alice/secret/-/images/{scanned_secret}/vulnerabilities/scan")
    missing = client.post(f"/r/alice/missing/-/images/{scanned_secret}/vulnerabilities/scan")
    assert private.status_code == missing.status_code == 404
