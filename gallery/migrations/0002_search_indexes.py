"""The GIN indexes behind full-text search: PostgreSQL only (SQLite searches without them)."""

from django.db import migrations

INDEXES = {
    "gallery_catalogentry_title_gin": "gallery_catalogentry USING gin (title_document)",
    "gallery_catalogtext_search_gin": "gallery_catalogtext USING gin (search_document)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, target in INDEXES.items():
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("gallery", "0001_initial")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
