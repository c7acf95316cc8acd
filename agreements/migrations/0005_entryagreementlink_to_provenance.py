# EntryAgreementLink is the ledger's derived data: the model now lives in the
# provenance app (provenance 0004). Only the migration state changes here;
# the table, its rows, constraints and indexes stay as they are.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("agreements", "0004_agreements_in_force_and_credit_periods"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="EntryAgreementLink")],
            database_operations=[],
        ),
    ]
