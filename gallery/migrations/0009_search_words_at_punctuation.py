"""PostgreSQL: descriptions and about text split into words at punctuation, as names and
queries are (gallery.searchschema.gallery_words), and every search column computed again.
SQLite's FTS5 splits them so already."""

from django.db import migrations

from gallery import searchschema

GROUP_COLUMNS = ("artifact_type", "platforms", "is_verified", "is_signed", "is_private")


def split_at_punctuation(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        searchschema.install(schema_editor, GROUP_COLUMNS)
        searchschema.fill(schema_editor, GROUP_COLUMNS)


class Migration(migrations.Migration):
    dependencies = [
        ("gallery", "0008_search_speed"),
    ]

    operations = [
        migrations.RunPython(split_at_punctuation, migrations.RunPython.noop, elidable=False),
    ]
