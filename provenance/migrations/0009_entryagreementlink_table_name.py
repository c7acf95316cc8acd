# EntryAgreementLink's table and index take the provenance app's names: the
# table kept the name the agreements app gave it when the model moved here
# (0004). Rows, constraints and foreign keys stay; PostgreSQL and SQLite
# rename in place.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("provenance", "0008_epcis_events")]

    operations = [
        migrations.AlterModelTable(name="entryagreementlink", table=None),
        migrations.RenameIndex(
            model_name="entryagreementlink",
            new_name="entry_links_by_agreement",
            old_name="agreements__agreeme_294cd5_idx",
        ),
    ]
