"""Create the log's tail row, so that the first appends only ever lock it."""

from django.db import migrations


def create_tail(apps, schema_editor):
    apps.get_model("provenance", "LogState").objects.get_or_create(id=1, defaults={"size": 0, "frontier": []})


class Migration(migrations.Migration):
    dependencies = [("provenance", "0002_append_only_triggers")]
    operations = [migrations.RunPython(create_tail, migrations.RunPython.noop)]
