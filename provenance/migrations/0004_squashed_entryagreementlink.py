# EntryAgreementLink, the ledger's derived data, in the provenance app; this
# replaces 0004_entryagreementlink (Django's `replaces`: a database that
# applied that one records this one as applied). That one only took over the
# migration state of the table the agreements app had created; the agreements
# migrations now create no table of the ledger's (their 0001_squashed_0005),
# so on a new database this one creates the table, under the name it had
# (0008 renames it). The model's content type is renamed, as before, so that
# on a database that had it under the agreements app its permissions (and
# the groups holding them) and admin log entries follow it.

import django.db.models.deletion
import django.utils.timezone
import django_countries.fields
from django.db import migrations, models

OLD, NEW = "agreements", "provenance"
MODEL = "entryagreementlink"


def rename_content_type(apps, schema_editor, old=OLD, new=NEW):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    types = ContentType.objects.using(db)
    if not types.filter(app_label=new, model=MODEL).exists():
        types.filter(app_label=old, model=MODEL).update(app_label=new)


def restore_content_type(apps, schema_editor):
    rename_content_type(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    replaces = [("provenance", "0004_entryagreementlink")]

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("provenance", "0003_log_state_row"),
        ("agreements", "0001_squashed_0005_rules_without_the_ledger"),
    ]

    operations = [
        migrations.CreateModel(
            name="EntryAgreementLink",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("mineral", models.CharField(max_length=40)),
                ("country", django_countries.fields.CountryField(max_length=2)),
                ("linked_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("rules_version", models.CharField(blank=True, max_length=64)),
                (
                    "entry",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="agreement_links",
                        to="provenance.entry",
                    ),
                ),
                (
                    "agreement",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entry_links",
                        to="agreements.tradeagreement",
                    ),
                ),
            ],
            options={
                "db_table": "agreements_entryagreementlink",
                "ordering": ["entry_id", "agreement_id", "mineral"],
                "indexes": [models.Index(fields=["agreement", "entry"], name="agreements__agreeme_294cd5_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("entry", "agreement", "mineral"), name="entry_agreement_mineral_once"
                    )
                ],
            },
        ),
        migrations.RunPython(rename_content_type, restore_content_type),
    ]
