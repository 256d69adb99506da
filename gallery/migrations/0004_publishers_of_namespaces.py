import django.db.models.deletion
from django.db import migrations, models


def publishers_to_namespaces(apps, schema_editor):
    """Each publisher moves from its user to the namespace of that user's name."""
    Publisher = apps.get_model("gallery", "Publisher")
    Namespace = apps.get_model("registry", "Namespace")
    CatalogEntry = apps.get_model("gallery", "CatalogEntry")
    for publisher in Publisher.objects.select_related("user"):
        record = Namespace.objects.filter(name=publisher.user.username).first()
        if record is None or Publisher.objects.filter(namespace_record=record).exists():
            publisher.delete()
        else:
            publisher.namespace_record = record
            publisher.save(update_fields=["namespace_record"])
    # Top-level repositories belong to no namespace (registry 0002 did the same there).
    CatalogEntry.objects.exclude(name__contains="/").update(namespace="", publisher=None)


class Migration(migrations.Migration):
    dependencies = [
        ("gallery", "0003_longer_platforms_and_sort_keys"),
        ("registry", "0002_namespaces"),
    ]

    operations = [
        migrations.AddField(
            model_name="publisher",
            name="namespace_record",
            field=models.OneToOneField(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="publisher",
                to="registry.namespace",
            ),
        ),
        migrations.RunPython(publishers_to_namespaces, migrations.RunPython.noop),
        migrations.RemoveField(model_name="publisher", name="user"),
        migrations.AlterField(
            model_name="publisher",
            name="namespace_record",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="publisher",
                to="registry.namespace",
            ),
        ),
    ]
