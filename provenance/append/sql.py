"""A batch's inserts and updates, in one statement on PostgreSQL.

The write path holds the log's tail lock from its SELECT … FOR UPDATE to its
COMMIT, so every moment inside costs every other writer; and each statement
costs CPU on both sides whatever its size (Django's compiler, psycopg's
conversions and results, the server's parse, plan and executor start), more
than the rows themselves. Rows here are therefore plain tuples of field
values, and `write` sends all of a batch's rows at once:

- On PostgreSQL, as one statement with one parameter: a JSON document
  holding each table's rows, which data-modifying CTEs insert and update
  (`jsonb_array_elements`). Its text never changes, so it is prepared once
  per connection; the document is one `json.dumps`.
- Elsewhere (SQLite), as multi-row INSERTs and one UPDATE per row, each
  value converted by its field as `bulk_create` would.

Values in the document are as the database reads them back: strings for
decimals (exact), ISO 8601 for dates and aware datetimes, JSON as JSON.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, JSONField, Model

from cairn_core import amounts
from provenance.append import lookups

# A statement and the parameters of each execution (values as the database
# driver takes them).
Statement = tuple[str, list[list[Any]]]

# Rows for one table: the columns, and each row's values in their order.
Rows = tuple["Columns", Sequence[Sequence[object]]]

# psycopg keeps its rewrite of a statement's placeholders only for statements
# of at most this many parameters (psycopg._queries.MAX_CACHED_STATEMENT_PARAMS);
# a longer one would be rewritten on every call.
PARAMETERS_PER_STATEMENT = 50


@dataclass(frozen=True, eq=False)  # one per (model, field names): compared by identity
class Columns:
    """Some fields of one model, in a fixed order: how rows of their values
    are written. For updates, the first field is the primary key."""

    model: type[Model]
    fields: tuple[Field[Any, Any], ...]

    @functools.cached_property
    def table(self) -> str:
        return lookups.quote(self.model._meta.db_table)

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(lookups.quote(field.column) for field in self.fields)

    def prepared(self, row: Sequence[object]) -> list[Any]:
        """One row's values as the database takes them."""
        connection = connections[DEFAULT_DB_ALIAS]
        return [field.get_db_prep_save(value, connection) for field, value in zip(self.fields, row, strict=True)]

    def from_json(self, element: str) -> list[str]:
        """SQL reading each field from `element`, a JSON array of the row's values."""
        connection = connections[DEFAULT_DB_ALIAS]
        return [
            f"{element}->{position}"
            if isinstance(field, JSONField)
            else f"({element}->>{position})::{field.db_type(connection)}"
            for position, field in enumerate(self.fields)
        ]


@functools.cache
def columns(model: type[Model], *field_names: str) -> Columns:
    return Columns(model, tuple(_concrete(model, name) for name in field_names))


def _concrete(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field):
        raise ValueError(f"{model.__name__}.{name} is not a concrete field")
    return field


# The document statement reads no table but by primary key, so one plan fits
# every document: a generic plan, made once per connection, instead of the
# custom plans the settings ask for (plan_cache_mode; lookups need those),
# whose planning would cost the server more than the writes themselves.
GENERIC_PLAN = "SET LOCAL plan_cache_mode = force_generic_plan"


def write(inserts: Sequence[Rows], updates: Sequence[Rows] = ()) -> None:
    """Insert each table's new rows, then update rows by primary key (the
    first column), all in one round trip. Pass the same tables every time,
    empty or not: on PostgreSQL their list makes the statement."""
    if not any(values for _, values in [*inserts, *updates]):
        return
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        sql = _document_sql(tuple(target for target, _ in inserts), tuple(target for target, _ in updates))
        document = json.dumps([values for _, values in [*inserts, *updates]], default=_json_value)
        execute([(GENERIC_PLAN, [[]]), (sql, [[document]])])
        return
    execute(
        [statement for target, values in inserts for statement in insert(target, values)]
        + [statement for target, values in updates for statement in update(target, values)]
    )


def _json_value(value: object) -> str:
    if isinstance(value, decimal.Decimal):
        return amounts.text(value)
    if isinstance(value, dt.date):  # and datetime: aware ones keep their offset
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")


@functools.cache
def _document_sql(inserts: tuple[Columns, ...], updates: tuple[Columns, ...]) -> str:
    """One statement writing every table from one JSON document: element n
    of the document is the rows of the n-th table, inserts then updates."""
    parts = ["doc AS (SELECT %s::jsonb AS value)"]
    for position, target in enumerate(inserts):
        parts.append(
            f"insert_{position} AS (INSERT INTO {target.table} ({', '.join(target.names)}) "
            f"SELECT {', '.join(target.from_json('r.value'))} "
            f"FROM doc, jsonb_array_elements(doc.value->{position}) AS r)"
        )
    for offset, target in enumerate(updates):
        position = len(inserts) + offset
        key, *names = target.names
        key_value, *values = target.from_json("r.value")
        assignments = ", ".join(f"{name} = {value}" for name, value in zip(names, values, strict=True))
        parts.append(
            f"update_{offset} AS (UPDATE {target.table} SET {assignments} "
            f"FROM doc, jsonb_array_elements(doc.value->{position}) AS r "
            f"WHERE {target.table}.{key} = {key_value})"
        )
    return f"WITH {', '.join(parts)} SELECT 1"


def insert(target: Columns, values: Sequence[Sequence[object]]) -> list[Statement]:
    """Multi-row INSERTs of `values` (new rows of `target`'s fields), each
    within PARAMETERS_PER_STATEMENT."""
    if not values:
        return []
    prepared = [target.prepared(row) for row in values]
    per_statement = max(1, PARAMETERS_PER_STATEMENT // len(target.fields))
    statements = []
    for start in range(0, len(prepared), per_statement):
        chunk = prepared[start : start + per_statement]
        params = [value for row in chunk for value in row]
        statements.append((_values_insert_sql(target, len(chunk)), [params]))
    return statements


def update(target: Columns, values: Sequence[Sequence[object]]) -> list[Statement]:
    """One UPDATE per row, by primary key (`target`'s first field)."""
    if not values:
        return []
    prepared = [target.prepared(row) for row in values]
    return [(_row_update_sql(target), [[*row[1:], row[0]] for row in prepared])]


@functools.cache
def _values_insert_sql(target: Columns, rows_count: int) -> str:
    row = f"({', '.join(['%s'] * len(target.fields))})"
    return f"INSERT INTO {target.table} ({', '.join(target.names)}) VALUES {', '.join([row] * rows_count)}"


@functools.cache
def _row_update_sql(target: Columns) -> str:
    key, *names = target.names
    return f"UPDATE {target.table} SET {', '.join(f'{name} = %s' for name in names)} WHERE {key} = %s"


def execute(statements: list[Statement]) -> None:
    """Run `statements` in order; on PostgreSQL all in one round trip (pipeline
    mode), each a prepared statement once it has been used a few times."""
    if not statements:
        return
    with lookups.cursor() as cursor, lookups.pipeline():
        for sql, executions in statements:
            if len(executions) == 1:
                cursor.execute(sql, executions[0])
            else:
                cursor.executemany(sql, executions)
