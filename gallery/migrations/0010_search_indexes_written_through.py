"""PostgreSQL: the GIN indexes of search written through (`fastupdate = off`) and their
pending lists merged, so that no search reads a list of rows changed since the last
vacuum (gallery.searchschema.without_pending_lists). SQLite's FTS5 tables are unaffected."""

from django.db import migrations

from gallery import searchschema


def written_through(apps, schema_editor):
    searchschema.without_pending_lists(schema_editor)


def with_pending_lists(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for index in searchschema.GIN_INDEXES:
            schema_editor.execute(f"ALTER INDEX {index} RESET (fastupdate)")


class Migration(migrations.Migration):
    dependencies = [
        ("gallery", "0009_search_words_at_punctuation"),
    ]

    operations = [
        migrations.RunPython(written_through, with_pending_lists, elidable=False),
    ]
