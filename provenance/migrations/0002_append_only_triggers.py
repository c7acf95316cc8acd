"""On PostgreSQL, reject UPDATE and DELETE on the ledger tables in the database.

Django's model and queryset guards stop application code; these triggers stop
everything else that connects as an ordinary role (a shell, a script, a bad
migration). Someone who can disable triggers can still change rows: that is
what the Merkle log, the signed checkpoints and the integrity checks catch.
"""

from django.db import migrations

LEDGER_TABLES = [
    "provenance_entry",
    "provenance_entrysignature",
    "provenance_batchlink",
    "provenance_claim",
    "provenance_merklenode",
    "provenance_checkpoint",
]

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION cairn_reject_ledger_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'cairn: % on % is not allowed: the ledger is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(CREATE_FUNCTION, params=None)
    for table in LEDGER_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION cairn_reject_ledger_change();"
        )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in LEDGER_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS cairn_reject_ledger_change();")


class Migration(migrations.Migration):
    dependencies = [("provenance", "0001_initial")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
