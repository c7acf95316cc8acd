"""Many inserts and updates in one round trip, without the query compiler.

The write path holds the log's tail lock from its SELECT … FOR UPDATE to its
COMMIT, so every round trip inside costs every other writer; and Django's
query compiler costs more CPU than the database spends on the rows. The
statements here are therefore written once per model and row count (and
remembered), each value converted by its field as `bulk_create` and
`save(update_fields=…)` would. On PostgreSQL they all go in one round trip
(pipeline mode), bound on the server and prepared; elsewhere one after
another.
"""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import AutoField, Field, Model

from provenance import rows

# A statement and the parameters of each execution (one per row).
Statement = tuple[str, list[list]]


# psycopg keeps its rewrite of a statement's placeholders only for statements
# of at most this many parameters (psycopg._queries.MAX_CACHED_STATEMENT_PARAMS);
# a longer one would be rewritten on every call.
PARAMETERS_PER_STATEMENT = 50


@functools.cache
def _fields(model: type[Model], with_pk: bool) -> tuple[Field, ...]:
    return tuple(
        field
        for field in model._meta.concrete_fields
        if not getattr(field, "generated", False) and (with_pk or not isinstance(field, AutoField))
    )


@functools.cache
def _insert_sql(model: type[Model], with_pk: bool, rows_count: int) -> str:
    """The INSERT of `rows_count` rows of `model`."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = _fields(model, with_pk)
    columns = ", ".join(quote(field.column) for field in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * rows_count)}"


def insert(objs: list[Model]) -> list[Statement]:
    """The INSERT of `objs` (all of one model, new rows), as few multi-row
    statements as keep each within PARAMETERS_PER_STATEMENT: every one of
    them a statement seen before, and each a single result to process."""
    if not objs:
        return []
    connection = connections[DEFAULT_DB_ALIAS]  # once: each use of the proxy costs a lookup
    model, with_pk = type(objs[0]), objs[0].pk is not None
    fields = _fields(model, with_pk)
    per_statement = max(1, min(PARAMETERS_PER_STATEMENT // len(fields), connection.ops.bulk_batch_size(fields, objs)))
    statements = []
    for start in range(0, len(objs), per_statement):
        chunk = objs[start : start + per_statement]
        params = []
        for obj in chunk:
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
            params += [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
            obj._state.adding = False
        statements.append((_insert_sql(model, with_pk, len(chunk)), [params]))
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
