# EntryAgreementLink's constraints and indexes take the provenance app's
# prefix: 0009 renamed its table, but the names Django generated from the
# table's first name (agreements_entryagreementlink) stayed: its primary key,
# its two foreign keys and their indexes. Both prefixes are ten letters, so
# each name keeps its length and hash. PostgreSQL renames in place; SQLite,
# which names only the indexes and cannot rename one, drops and recreates
# each from its own definition.

from django.db import migrations

TABLE = "provenance_entryagreementlink"


def _renamer(old: str, new: str):
    def rename(apps, schema_editor):
        connection = schema_editor.connection
        quote = schema_editor.quote_name
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND starts_with(conname, %s)",
                    [TABLE, old],
                )
                for (name,) in cursor.fetchall():
                    renamed = new + name.removeprefix(old)
                    cursor.execute(f"ALTER TABLE {quote(TABLE)} RENAME CONSTRAINT {quote(name)} TO {quote(renamed)}")
                cursor.execute(
                    "SELECT indexname FROM pg_indexes WHERE tablename = %s AND starts_with(indexname, %s)",
                    [TABLE, old],
                )
                for (name,) in cursor.fetchall():
                    cursor.execute(f"ALTER INDEX {quote(name)} RENAME TO {quote(new + name.removeprefix(old))}")
            elif connection.vendor == "sqlite":
                cursor.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                    [TABLE],
                )
                for name, sql in cursor.fetchall():
                    if name.startswith(old):
                        cursor.execute(f"DROP INDEX {quote(name)}")
                        cursor.execute(sql.replace(quote(name), quote(new + name.removeprefix(old)), 1))

    return rename


class Migration(migrations.Migration):
    dependencies = [("provenance", "0009_entryagreementlink_table_name")]

    operations = [
        migrations.RunPython(_renamer("agreements_", "provenance_"), _renamer("provenance_", "agreements_")),
    ]
