"""What the API says of repositories, tags, images and publishers: explicit serializers."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry import names
from registry.cache import services as cache

from ..models import ABOUT_MAX, DESCRIPTION_MAX, ArtifactType, CatalogEntry


def absolute(request, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


class PublisherRefSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    display_name = serializers.CharField()
    verified = serializers.BooleanField()
    url = serializers.CharField()


class RepositorySerializer(serializers.ModelSerializer):
    """A repository in lists: the narrow catalog row."""

    type = serializers.CharField(source="artifact_type")
    platforms = serializers.ListField(child=serializers.CharField(), source="platform_list")
    architectures = serializers.ListField(child=serializers.CharField())
    size = serializers.IntegerField(source="total_size")
    last_pushed = serializers.DateTimeField(source="pushed_at", allow_null=True)
    verified = serializers.BooleanField(source="is_verified")
    signed = serializers.BooleanField(source="is_signed")
    publisher = serializers.SerializerMethodField()
    logo_url = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    html_url = serializers.SerializerMethodField()

    class Meta:
        model = CatalogEntry
        fields = [
            "name",
            "namespace",
            "description",
            "type",
            "platforms",
            "architectures",
            "tag_count",
            "size",
            "downloads",
            "last_pushed",
            "verified",
            "signed",
            "publisher",
            "logo_url",
            "url",
            "html_url",
        ]

    @extend_schema_field(PublisherRefSerializer(allow_null=True))
    def get_publisher(self, entry):
        publisher = entry.publisher
        if publisher is None:
            return None
        request = self.context.get("request")
        return {
            "namespace": publisher.namespace,
            "display_name": str(publisher),
            "verified": publisher.is_verified,
            "url": absolute(request, reverse("api:publisher", args=[publisher.namespace])),
        }

    def get_logo_url(self, entry) -> str | None:
        if not entry.logo:
            return None
        return absolute(self.context.get("request"), entry.logo.url)

    def get_url(self, entry) -> str:
        return absolute(self.context.get("request"), reverse("api:repository", args=[entry.name]))

    def get_html_url(self, entry) -> str:
        return absolute(self.context.get("request"), reverse("repository", args=[entry.name]))


_LAST_PUSHED = serializers.DateTimeField()


def repository_list(rows, request) -> list[dict]:
    """RepositorySerializer(many=True)'s output for listing.Rows, built directly: the
    serializer's fields, methods and reverse() for each of 100 rows cost more than the
    search that found them. tests/gallery/api holds the two equal, byte for byte."""

    def prefix(route: str) -> str:  # names carry no characters a URL would escape
        return absolute(request, reverse(route, args=["xx"]))[:-2]

    api_url, html_url, publisher_url = (
        prefix("api:repository"),
        prefix("repository"),
        prefix("api:publisher"),
    )
    listed = []
    for row in rows:
        publisher = None
        if row.publisher_id is not None:
            publisher = {
                "namespace": row.publisher_namespace,
                "display_name": row.publisher_label,
                "verified": row.publisher_verified,
                "url": publisher_url + row.publisher_namespace,
            }
        pushed = row.pushed_at
        listed.append(
            {
                "name": row.name,
                "namespace": row.namespace,
                "description": row.description,
                "type": row.artifact_type,
                "platforms": row.platform_list,
                "architectures": row.architectures,
                "tag_count": row.tag_count,
                "size": row.total_size,
                "downloads": row.downloads,
                "last_pushed": None if pushed is None else _LAST_PUSHED.to_representation(pushed),
                "verified": row.is_verified,
                "signed": row.is_signed,
                "publisher": publisher,
                "logo_url": absolute(request, row.logo_url) if row.logo else None,
                "url": api_url + row.name,
                "html_url": html_url + row.name,
            }
        )
    return listed


class TextSerializer(serializers.Serializer):
    markdown = serializers.CharField()
    html = serializers.CharField(help_text="Rendered and sanitized; safe to insert in a page.")


class RepositoryDetailSerializer(RepositorySerializer):
    """One repository: catalog data, with its texts as Markdown and as sanitized HTML."""

    about = serializers.SerializerMethodField()
    usage = serializers.SerializerMethodField()
    links = serializers.DictField(child=serializers.CharField())
    visibility = serializers.SerializerMethodField(
        help_text="public or private; present only for those who may change it."
    )
    origin = serializers.SerializerMethodField(
        help_text="For a pull-through cache (read-only): the upstream repository it caches."
    )

    class Meta(RepositorySerializer.Meta):
        fields = [
            *RepositorySerializer.Meta.fields,
            "about",
            "usage",
            "links",
            "visibility",
            "origin",
        ]

    def get_origin(self, entry) -> str | None:
        return cache.origin_of(entry.pk) or None

    def get_about(self, entry) -> TextSerializer:
        text = self.context["text"]
        return {"markdown": text.about, "html": text.about_html}

    def get_usage(self, entry) -> TextSerializer:
        text = self.context["text"]
        return {"markdown": text.usage, "html": text.usage_html}

    def get_visibility(self, entry) -> str | None:
        if not self.context.get("can_edit"):
            return None
        return "private" if entry.is_private else "public"

    def to_representation(self, entry):
        data = super().to_representation(entry)
        if data.get("visibility") is None:
            data.pop("visibility", None)
        return data


VISIBILITY = serializers.ChoiceField(choices=["public", "private"], required=False)


class Text(serializers.CharField):
    """A string in a JSON body, as the schema says: 7 or true is refused, not read as "7"."""

    default_error_messages = {"not_a_string": "Not a valid string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class Name(Text, serializers.RegexField):
    """A repository name in a JSON body: a string, then the spec's grammar."""


NAME_RULE = (
    "Use lowercase letters, digits and separators (., _, __, -) in components joined by /, "
    "2 to 255 characters, as the OCI distribution spec asks."
)


class RepositoryCreateSerializer(serializers.Serializer):
    name = Name(
        rf"^{names.NAME}$",
        min_length=2,
        max_length=names.NAME_MAX_LENGTH,
        error_messages={"invalid": NAME_RULE},
    )
    visibility = VISIBILITY
    # Blank (or only spaces) is no description, as on the update: not an error.
    description = Text(max_length=DESCRIPTION_MAX, required=False, default="", allow_blank=True)

    def validate_name(self, value: str) -> str:
        if not names.is_valid_name(value):
            raise serializers.ValidationError(NAME_RULE)
        return value


class RepositoryUpdateSerializer(serializers.Serializer):
    description = Text(max_length=DESCRIPTION_MAX, required=False, allow_blank=True)
    about = Text(max_length=ABOUT_MAX, required=False, allow_blank=True, trim_whitespace=False)
    usage = Text(max_length=ABOUT_MAX, required=False, allow_blank=True, trim_whitespace=False)
    visibility = VISIBILITY


class PlatformSerializer(serializers.Serializer):
    os = serializers.CharField()
    architecture = serializers.CharField()
    variant = serializers.CharField(allow_blank=True)
    digest = serializers.CharField()
    size = serializers.IntegerField()


class TagSerializer(serializers.Serializer):
    name = serializers.CharField()
    digest = serializers.CharField(source="image.digest")
    media_type = serializers.CharField(source="image.media_type")
    type = serializers.ChoiceField(choices=ArtifactType.values, source="image.kind")
    pushed_at = serializers.DateTimeField()
    size = serializers.IntegerField(
        source="image.size", help_text="For an index: its largest platform image."
    )
    downloads = serializers.IntegerField()
    platforms = PlatformSerializer(many=True, source="image.platforms")
    platform_count = serializers.IntegerField(source="image.platform_count")
    url = serializers.SerializerMethodField()

    def get_url(self, tag) -> str:
        entry = self.context["entry"]
        path = reverse("api:image", args=[entry.name, tag.image.digest])
        return absolute(self.context.get("request"), path)


class LayerSerializer(serializers.Serializer):
    digest = serializers.CharField()
    size = serializers.IntegerField()
    media_type = serializers.CharField()
    created_by = serializers.CharField(allow_blank=True)


class PlatformImageSerializer(serializers.Serializer):
    digest = serializers.CharField()
    media_type = serializers.CharField()
    size = serializers.IntegerField()
    os = serializers.CharField(allow_blank=True)
    architecture = serializers.CharField(allow_blank=True)
    variant = serializers.CharField(allow_blank=True)
    entrypoint = serializers.ListField(child=serializers.CharField())
    command = serializers.ListField(child=serializers.CharField())
    environment = serializers.ListField(
        child=serializers.CharField(), help_text="Variable names only, never their values."
    )
    ports = serializers.ListField(child=serializers.CharField())
    working_dir = serializers.CharField(allow_blank=True)
    user = serializers.CharField(allow_blank=True)
    created = serializers.CharField(allow_blank=True)
    labels = serializers.DictField(child=serializers.CharField())
    annotations = serializers.DictField(child=serializers.CharField())
    layers = LayerSerializer(many=True)


class AttachmentSerializer(serializers.Serializer):
    digest = serializers.CharField()
    kind = serializers.CharField()
    artifact_type = serializers.CharField(allow_blank=True)
    media_type = serializers.CharField()
    size = serializers.IntegerField()
    subject = serializers.CharField()
    tag = serializers.CharField(allow_blank=True)
    pushed_at = serializers.DateTimeField()


class ImageSerializer(serializers.Serializer):
    digest = serializers.CharField()
    media_type = serializers.CharField()
    type = serializers.CharField(source="kind")
    artifact_type = serializers.CharField(allow_blank=True)
    size = serializers.IntegerField()
    is_index = serializers.BooleanField()
    tags = serializers.ListField(child=serializers.CharField())
    annotations = serializers.DictField(child=serializers.CharField())
    platforms = PlatformImageSerializer(many=True)
    platform_count = serializers.IntegerField(source="child_count")
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    subject = serializers.CharField(allow_blank=True)
    referrers = serializers.SerializerMethodField(
        help_text="Signatures, SBOMs, attestations and other attachments, by artifact type."
    )

    @extend_schema_field(serializers.DictField(child=AttachmentSerializer(many=True)))
    def get_referrers(self, details):
        grouped: dict[str, list] = {}
        for items in details.attachments.values():
            for attachment in items:
                key = attachment.artifact_type or attachment.media_type
                grouped.setdefault(key, []).append(AttachmentSerializer(attachment).data)
        return grouped


class PublisherSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    display_name = serializers.CharField(source="__str__")
    bio = serializers.CharField(allow_blank=True)
    website = serializers.CharField(allow_blank=True)
    verified = serializers.BooleanField(source="is_verified")
    repository_count = serializers.IntegerField()
    downloads = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    html_url = serializers.SerializerMethodField()

    def get_url(self, publisher) -> str:
        path = reverse("api:publisher", args=[publisher.namespace])
        return absolute(self.context.get("request"), path)

    def get_html_url(self, publisher) -> str:
        path = reverse("publisher", args=[publisher.namespace])
        return absolute(self.context.get("request"), path)


class RepositoryQuerySerializer(serializers.Serializer):
    """The list's query parameters (several `type`, `arch` and `os` may be given)."""

    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    type = serializers.ListField(
        child=serializers.ChoiceField(choices=ArtifactType.values), required=False
    )
    arch = serializers.ListField(
        child=serializers.CharField(max_length=64, allow_blank=True), required=False
    )
    os = serializers.ListField(
        child=serializers.CharField(max_length=64, allow_blank=True), required=False
    )
    verified = serializers.BooleanField(required=False, default=False)
    signed = serializers.BooleanField(required=False, default=False)
    namespace = serializers.CharField(required=False, allow_blank=True, max_length=255)
    sort = serializers.ChoiceField(
        choices=["relevance", "downloads", "updated", "name"], required=False
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=25)
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=1000)

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            data = {
                key: data.getlist(key) if key in ("type", "arch", "os") else data.get(key)
                for key in data
            }
        values = super().to_internal_value(data)
        for key in ("arch", "os"):  # `arch=` (an empty box in a form) filters nothing
            if key in values:
                values[key] = [value for value in values[key] if value]
        return values


class FacetOptionSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


def paged(serializer, name: str):
    """The schema of a cursor page of `serializer` rows (gallery.api.views.Limited)."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "__doc__": f"A page of {serializer.__name__.removesuffix('Serializer')} rows.",
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer(many=True),
        },
    )


class RepositoryListSerializer(serializers.Serializer):
    count = serializers.IntegerField(
        help_text="Matching repositories (a lower bound if not exact)."
    )
    count_exact = serializers.BooleanField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    facets = serializers.DictField(child=FacetOptionSerializer(many=True))
    did_you_mean = serializers.CharField(allow_null=True)
    results = RepositorySerializer(many=True)


# -- vulnerabilities ----------------------------------------------------------------------------

SEVERITIES = ["critical", "high", "medium", "low", "unknown"]
SCAN_STATUSES = ["not_scanned", "queued", "scanning", "done", "failed"]
FINDING_ORDERINGS = ["severity", "score", "package", "advisory"]
FINDINGS_LIMIT_MAX = 1000


class SeveritySummarySerializer(serializers.Serializer):
    critical = serializers.IntegerField()
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()
    unknown = serializers.IntegerField()


class PlatformScanSerializer(serializers.Serializer):
    """The scan of one platform image (a PlatformReport of registry.scanning)."""

    digest = serializers.CharField(help_text="The image manifest scanned.")
    platform = serializers.CharField(allow_blank=True, help_text="e.g. linux/amd64.")
    status = serializers.SerializerMethodField(
        help_text="not_scanned, queued, scanning, done or failed."
    )
    reason = serializers.CharField(allow_blank=True, help_text="Why the scan failed.")
    summary = SeveritySummarySerializer(help_text="Findings per severity.")
    distribution = serializers.CharField(allow_blank=True, help_text='e.g. "debian 12".')
    scanned_at = serializers.DateTimeField(allow_null=True)

    def get_status(self, report) -> str:
        return report.status or "not_scanned"


class FindingSerializer(serializers.Serializer):
    """A package of a platform image that an advisory affects."""

    platform = serializers.CharField(allow_blank=True)
    image_digest = serializers.CharField(help_text="The platform image it was found in.")
    package = serializers.CharField()
    package_type = serializers.CharField(help_text="deb, apk, rpm, python, npm, golang.")
    installed_version = serializers.CharField()
    fixed_version = serializers.CharField(allow_blank=True, help_text="Empty: no fix known.")
    fixed_in_tag = serializers.CharField(
        allow_blank=True,
        help_text="The newest tag of this repository whose image no longer has the finding.",
    )
    advisory_id = serializers.CharField()
    aliases = serializers.ListField(child=serializers.CharField())
    url = serializers.CharField(allow_blank=True, help_text="Where to read the advisory.")
    summary = serializers.CharField(allow_blank=True)
    severity = serializers.ChoiceField(choices=SEVERITIES)
    cvss_score = serializers.FloatField(allow_null=True)
    layer_digest = serializers.CharField(help_text="The layer that brought the package.")
    path = serializers.CharField(allow_blank=True, help_text="The file that says it is there.")


class ScanStatusSerializer(serializers.Serializer):
    digest = serializers.CharField(help_text="The image or index asked about.")
    status = serializers.ChoiceField(
        choices=SCAN_STATUSES,
        help_text="All platforms together: scanning or queued while any is, else not_scanned "
        "or failed if any is, else done.",
    )
    database_updated_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When advisories were last imported (null: never, so nothing can be found).",
    )
    platforms = PlatformScanSerializer(many=True)


class VulnerabilityReportSerializer(ScanStatusSerializer):
    count = serializers.IntegerField(help_text="Findings matching the filters.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    findings = FindingSerializer(many=True)


class FindingQuerySerializer(serializers.Serializer):
    """The findings' query parameters (`severity` may be given several times, or as a list)."""

    severity = serializers.ListField(
        child=serializers.ChoiceField(choices=SEVERITIES), required=False
    )
    package = serializers.CharField(required=False, allow_blank=True, max_length=200)
    platform = serializers.CharField(required=False, allow_blank=True, max_length=100)
    ordering = serializers.ChoiceField(
        choices=FINDING_ORDERINGS, required=False, default="severity"
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=FINDINGS_LIMIT_MAX, default=100
    )
    offset = serializers.IntegerField(required=False, min_value=0, default=0)

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            values = {key: data.get(key) for key in data}
            severities = [s for v in data.getlist("severity") for s in v.split(",") if s]
            if "severity" in data:
                values["severity"] = severities
            data = values
        return super().to_internal_value(data)


class AttachedSbomSerializer(serializers.Serializer):
    """The descriptor of an SBOM attached to an image as an OCI referrer."""

    mediaType = serializers.CharField(help_text="the referrer's manifest media type (OCI)")
    digest = serializers.CharField(help_text="the referrer manifest's digest")
    size = serializers.IntegerField()
    artifactType = serializers.CharField(help_text="application/vnd.cyclonedx+json")
    subject = serializers.CharField(help_text="the image's digest")


class SbomSerializer(serializers.Serializer):
    """A CycloneDX 1.6 document (only its outline here: the specification has the rest)."""

    bomFormat = serializers.CharField(help_text="CycloneDX")
    specVersion = serializers.CharField(help_text="1.6")
    serialNumber = serializers.CharField()
    version = serializers.IntegerField()
    metadata = serializers.DictField(
        help_text="metadata.component is the image or index (type container, its digest as "
        "the version)."
    )
    components = serializers.ListField(
        child=serializers.DictField(),
        help_text="One container component per scanned platform image, each with the packages "
        "found as its components (name, version, purl; properties berth:package:type, "
        "berth:package:path, berth:layer:digest, berth:source:name, berth:source:version).",
    )
