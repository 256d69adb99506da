"""Search that is fast without its cache: the derived columns, FTS5 tables, kept facet counts
and triggers of gallery.searchschema replace the generated tsvector columns of 0001/0002."""

import django.db.models.expressions
import django.db.models.functions.text
from django.db import migrations, models

from gallery import searchschema

GROUP_COLUMNS = ("artifact_type", "platforms", "is_verified", "is_signed", "is_private")


def install(apps, schema_editor):
    searchschema.install(schema_editor, GROUP_COLUMNS)
    searchschema.fill(schema_editor, GROUP_COLUMNS)


def uninstall(apps, schema_editor):
    searchschema.uninstall(schema_editor, GROUP_COLUMNS)


class Migration(migrations.Migration):

    dependencies = [
        ('gallery', '0007_archive_imports'),
        
    ]

    operations = [
        migrations.CreateModel(
            name='FacetGroup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('artifact_type', models.CharField(max_length=16)),
                ('platforms', models.TextField()),
                ('is_verified', models.BooleanField()),
                ('is_signed', models.BooleanField()),
                ('is_private', models.BooleanField()),
                ('entries', models.IntegerField(default=0)),
            ],
        ),
        migrations.AddConstraint(
            model_name='facetgroup',
            constraint=models.UniqueConstraint(fields=('artifact_type', 'platforms', 'is_verified', 'is_signed', 'is_private'), name='facet_group_once'),
        ),
        migrations.RemoveField(
            model_name='catalogentry',
            name='title_document',
        ),
        migrations.RemoveField(
            model_name='catalogtext',
            name='search_document',
        ),
        migrations.AddIndex(
            model_name='catalogentry',
            index=models.Index(django.db.models.functions.text.Substr('name', django.db.models.expressions.CombinedExpression(django.db.models.functions.text.StrIndex('name', models.Value('/')), '+', models.Value(1))), name='catalog_by_short_name'),
        ),
        # Last: on SQLite the operations above rebuild the tables, which drops their triggers.
        migrations.RunPython(install, uninstall, elidable=False),
    ]
