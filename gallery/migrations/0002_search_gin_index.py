"""The GIN index behind full-text search: PostgreSQL only (SQLite searches without it)."""

from django.db import migrations

INDEX = "gallery_catalogentry_search_gin"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON gallery_catalogentry USING gin (search_document)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("gallery", "0001_initial")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
