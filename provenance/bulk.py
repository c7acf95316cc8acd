"""Many inserts and updates in one round trip, without the query compiler.

The write path holds the log's tail lock from its SELECT … FOR UPDATE to its
COMMIT, so every round trip inside costs every other writer; and Django's
query compiler costs more CPU than the database spends on the rows. The
statements here are therefore written once per model (one row's INSERT)
and executed once per row, each value converted by its field as
`bulk_create` and `save(update_fields=…)` would. On PostgreSQL they all go
in one round trip (pipeline mode), bound on the server and prepared;
elsewhere one after another.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import AutoField, Field, Model

from provenance import rows

# A statement and the parameters of each execution (one per row).
Statement = tuple[str, list[list]]


@functools.cache
def _insert_sql(model: type[Model], with_pk: bool) -> tuple[str, tuple[Field, ...]]:
    """The one-row INSERT for `model` and the fields that fill it."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = tuple(
        field
        for field in model._meta.concrete_fields
        if not getattr(field, "generated", False) and (with_pk or not isinstance(field, AutoField))
    )
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})", fields


def insert(objs: list[Model]) -> list[Statement]:
    """The INSERT of `objs` (all of one model, new rows): one statement, executed
    once per row. (One multi-row VALUES list would be a new statement for every
    row count, and psycopg would rewrite its placeholders on every call.)"""
    if not objs:
        return []
    connection = connections[DEFAULT_DB_ALIAS]  # once: each use of the proxy costs a lookup
    sql, fields = _insert_sql(type(objs[0]), with_pk=objs[0].pk is not None)
    rows_params = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        rows_params.append([field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields])
        obj._state.adding = False
    return [(sql, rows_params)]


def update(obj: Model, field_names: list[str]) -> Statement:
    """UPDATE one row's fields, by primary key."""
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    meta = obj._meta
    fields = [meta.get_field(name) for name in field_names]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields]
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    return sql, [[*params, meta.pk.get_db_prep_value(obj.pk, connection)]]


def execute(statements: list[Statement]) -> None:
    """Run `statements` in order; on PostgreSQL all in one round trip (pipeline
    mode), each a prepared statement once it has been used a few times."""
    if not statements:
        return
    with rows.cursor() as cursor, rows.pipeline():
        for sql, executions in statements:
            if len(executions) == 1:
                cursor.execute(sql, executions[0])
            else:
                cursor.executemany(sql, executions)
