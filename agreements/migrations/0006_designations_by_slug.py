# A FEOC designation names its entity by slug (0001_squashed_0005): drop,
# where a database still has them, the foreign key from the designations to
# the provenance organisations and the historical rows' NULL. A database that
# ran 0001_squashed_0005 has neither; one that ran 0001 to 0005 has both.
# The column, its values and its indexes stay. On SQLite a constraint cannot
# be dropped: the table is rebuilt from the migration state, as Django's own
# ALTER does there.

from django.db import migrations

TABLES = {
    "FeocDesignation": "agreements_feocdesignation",
    "HistoricalFeocDesignation": "agreements_historicalfeocdesignation",
}
COLUMN = "organization_id"


def foreign_keys(connection, table):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [name for name, c in constraints.items() if c["foreign_key"] and c["columns"] == [COLUMN]]


def nullable(connection, table):
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(cursor, table)
    return any(column.name == COLUMN and column.null_ok for column in columns)


def drop_the_foreign_key(apps, schema_editor):
    connection = schema_editor.connection
    for model_name, table in TABLES.items():
        model = apps.get_model("agreements", model_name)
        keys, null = foreign_keys(connection, table), nullable(connection, table)
        if not keys and not null:
            continue
        if connection.vendor == "sqlite":
            schema_editor._remake_table(model)
            continue
        quote = schema_editor.quote_name
        for name in keys:
            schema_editor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        if null:
            schema_editor.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(COLUMN)} SET NOT NULL")


class Migration(migrations.Migration):
    dependencies = [("agreements", "0001_squashed_0005_rules_without_the_ledger")]

    operations = [migrations.RunPython(drop_the_foreign_key, migrations.RunPython.noop)]
