"""Install the periodic tasks of audit/schedule.py (existing rows are kept)."""

from django.db import migrations


def install(apps, schema_editor):
    from audit.schedule import install_schedule

    install_schedule(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
