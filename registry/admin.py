from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from . import services
from .cache import services as cache
from .models import (
    Advisory,
    Blob,
    CacheRule,
    Collection,
    ImageScan,
    Manifest,
    Namespace,
    Repository,
    Tag,
    Upload,
)


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    """Staff create namespaces here: one without an owner is reserved (only staff push to
    it, no sign-up can claim it). A namespace's name never changes."""

    list_display = ["name", "kind", "owner", "quota_bytes", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner"]

    def get_readonly_fields(self, request, obj=None):
        return ["name", "created_at"] if obj else ["created_at"]


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "is_private", "reclaim_untagged", "pushed_at"]
    list_filter = ["is_private", "reclaim_untagged"]
    search_fields = ["name"]
    raw_id_fields = ["owner"]

    def get_readonly_fields(self, request, obj=None):
        # A repository's name (and the namespace derived from it) is its identity: clients,
        # blobs and the catalog all refer to it.
        return ["name", "namespace", "created_at", "pushed_at"] if obj else ["created_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Whoever mirrors repositories (the gallery's catalog) learns of the change.
        services.notify(services.RegistryEvent("update", obj.pk, obj.name))

    def delete_model(self, request, obj):
        event = services.RegistryEvent("delete", obj.pk, obj.name)
        super().delete_model(request, obj)
        services.notify(event)


@admin.register(Manifest)
class ManifestAdmin(admin.ModelAdmin):
    list_display = ["digest", "repository", "media_type", "size", "created_at"]
    search_fields = ["digest", "repository__name"]
    raw_id_fields = ["repository"]
    exclude = ["body", "blobs", "children"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "repository", "updated_at"]
    search_fields = ["name", "repository__name"]
    raw_id_fields = ["repository", "manifest"]


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):
    list_display = ["digest", "size", "key_id", "created_at"]
    search_fields = ["digest"]
    list_filter = ["key_id"]


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["id", "repository", "user", "offset", "updated_at"]
    raw_id_fields = ["repository", "user"]


@admin.register(ImageScan)
class ImageScanAdmin(admin.ModelAdmin):
    list_display = [
        "digest",
        "status",
        "platform",
        "distribution",
        "critical",
        "high",
        "finished_at",
    ]
    list_filter = ["status"]
    search_fields = ["digest"]
    readonly_fields = [f.name for f in ImageScan._meta.fields]


@admin.register(Advisory)
class AdvisoryAdmin(admin.ModelAdmin):
    list_display = ["osv_id", "severity", "cvss_score", "modified", "withdrawn"]
    list_filter = ["severity"]
    search_fields = ["osv_id", "summary"]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    """Garbage collection runs (registry.storage.gc): read-only, a record of what went."""

    list_display = [
        "started_at", "finished_at", "dry_run", "grace_seconds", "manifests", "links",
        "blobs", "bytes_freed",
    ]  # fmt: skip
    list_filter = ["dry_run"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CacheRuleForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; sent to the upstream and its token realm only. Leave "
        "empty to keep the current one.",
    )

    class Meta:
        model = CacheRule
        fields = ["prefix", "upstream", "namespace", "username", "allow_private_networks"]

    def clean(self):
        values = super().clean()
        errors = cache.check_rule(
            prefix=values.get("prefix") or (self.instance.prefix if self.instance.pk else ""),
            upstream_url=values.get("upstream", ""),
            namespace=values.get("namespace", ""),
            username=values.get("username", ""),
            password=values.get("password", ""),
            allow_private_networks=values.get("allow_private_networks", False),
            existing=self.instance if self.instance.pk else None,
        )
        if errors:
            raise ValidationError(errors)
        return values


@admin.register(CacheRule)
class CacheRuleAdmin(admin.ModelAdmin):
    """Pull-through cache rules (registry.cache): prefix/… in Berth caches an upstream."""

    form = CacheRuleForm
    list_display = ["prefix", "upstream", "namespace", "username", "allow_private_networks"]
    search_fields = ["prefix", "upstream"]

    def get_readonly_fields(self, request, obj=None):
        return ["prefix", "created_at"] if obj else ["created_at"]

    def save_model(self, request, obj, form, change):
        values = form.cleaned_data
        if change:
            cache.change_rule(
                rule=obj,
                upstream_url=obj.upstream,
                namespace=obj.namespace,
                username=obj.username,
                password=values.get("password") or None,
                allow_private_networks=obj.allow_private_networks,
            )
            return
        created = cache.create_rule(
            prefix=obj.prefix,
            upstream_url=obj.upstream,
            namespace=obj.namespace,
            username=obj.username,
            password=values.get("password", ""),
            allow_private_networks=obj.allow_private_networks,
            actor=request.user,
        )
        obj.pk = obj.id = created.pk

    def delete_model(self, request, obj):
        cache.delete_rule(rule=obj, actor=request.user)
