from django.contrib import admin

from . import services
from .accounts import AdminSignInForm
from .models import CatalogEntry, Publisher

# The admin's sign-in counts failures like every other (gallery.accounts).
admin.site.login_form = AdminSignInForm


@admin.register(Publisher)
class PublisherAdmin(admin.ModelAdmin):
    list_display = ["namespace_record", "display_name", "is_verified", "created_at"]
    list_filter = ["is_verified"]
    search_fields = ["namespace_record__name", "display_name"]
    raw_id_fields = ["namespace_record"]
    readonly_fields = ["is_verified"]  # through the actions, which update the catalog too
    actions = ["verify", "unverify"]

    @admin.action(description="Mark as verified publishers")
    def verify(self, request, queryset):
        for publisher in queryset:
            services.set_verified(publisher=publisher, verified=True)

    @admin.action(description="Remove the verified badge")
    def unverify(self, request, queryset):
        for publisher in queryset:
            services.set_verified(publisher=publisher, verified=False)


@admin.register(CatalogEntry)
class CatalogEntryAdmin(admin.ModelAdmin):
    """Read-only: the catalog is derived from the registry and edited by publishers."""

    list_display = ["name", "artifact_type", "is_private", "tag_count", "downloads", "pushed_at"]
    list_filter = ["artifact_type", "is_private", "is_verified"]
    search_fields = ["name", "description"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
