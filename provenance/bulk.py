"""Many inserts and updates in one round trip, without the query compiler.

The write path holds the log's tail lock from its SELECT … FOR UPDATE to its
COMMIT, so every round trip inside costs every other writer; and Django's
query compiler costs more CPU than the database spends on the rows. The
statements here are therefore planned once per model (table, columns,
placeholders) and filled per batch with each field's own conversion, as
`bulk_create` and `save(update_fields=…)` would. On PostgreSQL they go in
one round trip (pipeline mode), bound on the server and prepared; elsewhere
one after another.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import AutoField, Field, Model

from provenance import rows

Statement = tuple[str, list]


@functools.cache
def _columns(model: type[Model], with_pk: bool) -> tuple[str, tuple[Field, ...]]:
    """The INSERT head for `model` and the fields that fill its rows."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = tuple(
        field
        for field in model._meta.concrete_fields
        if not getattr(field, "generated", False) and (with_pk or not isinstance(field, AutoField))
    )
    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) VALUES "
    return head, fields


def insert(objs: list[Model]) -> list[Statement]:
    """The INSERT of `objs` (all of one model, new rows), in as few statements
    as the database's parameter limit allows."""
    if not objs:
        return []
    connection = connections[DEFAULT_DB_ALIAS]  # once: each use of the proxy costs a lookup
    model = type(objs[0])
    head, fields = _columns(model, with_pk=objs[0].pk is not None)
    row = f"({', '.join(['%s'] * len(fields))})"
    size = max(1, connection.ops.bulk_batch_size(fields, objs))
    statements = []
    for start in range(0, len(objs), size):
        chunk = objs[start : start + size]
        params = []
        for obj in chunk:
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
            params += [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
            obj._state.adding = False
        statements.append((head + ", ".join([row] * len(chunk)), params))
    return statements


def update(obj: Model, field_names: list[str]) -> Statement:
    """UPDATE one row's fields, by primary key."""
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    meta = obj._meta
    fields = [meta.get_field(name) for name in field_names]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields]
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    return sql, [*params, meta.pk.get_db_prep_value(obj.pk, connection)]


def execute(statements: list[Statement]) -> None:
    """Run `statements` in order; on PostgreSQL all in one round trip (pipeline
    mode), each a prepared statement once it has been used a few times."""
    if not statements:
        return
    with rows.cursor() as cursor, rows.pipeline():
        for sql, params in statements:
            cursor.execute(sql, params)
