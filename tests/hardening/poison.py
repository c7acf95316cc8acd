"""A statement the database refuses although it passed every check: a
trigger refusing any new batch whose material is POISON, on SQLite and on
PostgreSQL. A stand-in for any such statement (a value a column cannot
hold, a constraint the checks do not know of)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

POISON = "poison"

INSTALL = {
    "sqlite": (
        "CREATE TRIGGER cairn_test_poison BEFORE INSERT ON provenance_batch "
        f"WHEN NEW.material = '{POISON}' BEGIN SELECT RAISE(ABORT, 'poisoned statement'); END",
    ),
    # SQLSTATE 22003, numeric_value_out_of_range: what a too-long amount raised.
    "postgresql": (
        "CREATE FUNCTION cairn_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.material = '{POISON}' THEN RAISE EXCEPTION 'poisoned statement' USING ERRCODE = '22003'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER cairn_test_poison BEFORE INSERT ON provenance_batch FOR EACH ROW "
        "EXECUTE FUNCTION cairn_test_poison()",
    ),
}
REMOVE = {
    "sqlite": ("DROP TRIGGER IF EXISTS cairn_test_poison",),
    "postgresql": (
        "DROP TRIGGER IF EXISTS cairn_test_poison ON provenance_batch",
        "DROP FUNCTION IF EXISTS cairn_test_poison()",
    ),
}


@contextmanager
def poisoned() -> Iterator[str]:
    """The trigger installed on Django's default database while inside; the material it refuses."""
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in INSTALL[connection.vendor]:
            cursor.execute(sql)
    try:
        yield POISON
    finally:
        with connection.cursor() as cursor:
            for sql in REMOVE[connection.vendor]:
                cursor.execute(sql)
