"""Model instances from plain SQL, for the lookups every attestation makes.

Django's query compiler spends about 0.4 ms of CPU on each query it builds,
several times what the database spends answering a lookup by key; the write
path makes a handful of them per statement. Here each model's select list
and value converters are worked out once, and rows become instances through
`Model.from_db`, exactly as a queryset would make them (JSON decoded,
decimals, dates and booleans converted per database).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model

T = TypeVar("T")

# A database value converter, as Django's backends and fields give them.
Converter = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per model
class Shape:
    """How one model's rows are selected and turned into instances."""

    model: type[Model]
    fields: tuple[Field[Any, Any], ...]
    attnames: tuple[str, ...]
    table: str  # quoted
    quoted_columns: tuple[str, ...]
    columns_expr: tuple[object, ...]  # the Col expression of each field, which converters are given
    converters: tuple[tuple[Converter, ...], ...]

    @functools.cache  # noqa: B019 (shapes live as long as the process, like their models)
    def columns(self, alias: str | None = None) -> str:
        """The select list, qualified by `alias` or by the table."""
        prefix = quote(alias) if alias else self.table
        return ", ".join(f"{prefix}.{column}" for column in self.quoted_columns)

    @functools.cache  # noqa: B019
    def column(self, name: str) -> str:
        return quote(_concrete(self.model, name).column)

    def convert(self, attname: str, value: object) -> object:
        """One column's database value as the model's field holds it."""
        position = self.attnames.index(attname)
        connection = connections[DEFAULT_DB_ALIAS]
        for converter in self.converters[position]:
            value = converter(value, self.columns_expr[position], connection)
        return value

    def build(self, values: Sequence[object]) -> Model:
        """The instance for one row's values (in `fields` order)."""
        connection = connections[DEFAULT_DB_ALIAS]
        converted = []
        for value, column, converters in zip(values, self.columns_expr, self.converters, strict=True):
            for converter in converters:
                value = converter(value, column, connection)
            converted.append(value)
        return self.model.from_db(connection.alias, self.attnames, converted)


def quote(name: str | None) -> str:
    """A table or column name quoted for the database in use (the one helper)."""
    if name is None:
        raise ValueError("a concrete field has a column")
    return connections[DEFAULT_DB_ALIAS].ops.quote_name(name)


def _concrete(model: type[Model], name: str) -> Field[Any, Any]:
    """The model's field `name`, which has a column (not a reverse relation)."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field):
        raise ValueError(f"{model.__name__}.{name} is not a concrete field")
    return field


@functools.cache
def shape(model: type[Model]) -> Shape:
    connection = connections[DEFAULT_DB_ALIAS]
    fields = tuple(model._meta.concrete_fields)
    columns = tuple(field.get_col(model._meta.db_table) for field in fields)
    converters = tuple(
        tuple(connection.ops.get_db_converters(column) + column.get_db_converters(connection)) for column in columns
    )
    return Shape(
        model=model,
        fields=fields,
        attnames=tuple(field.attname for field in fields),
        table=quote(model._meta.db_table),
        quoted_columns=tuple(quote(field.column) for field in fields),
        columns_expr=columns,
        converters=converters,
    )


def _new_cursor() -> CursorWrapper:
    """A Django cursor; on PostgreSQL one that binds parameters on the server,
    so that psycopg prepares each statement after its fifth use (settings:
    prepare_threshold) and the server plans it once per connection instead
    of on every call (a quarter of the server's CPU for the token lookup)."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    # Stub gaps: ServerBindingCursor is psycopg's cursor class, made from a
    # connection; make_cursor and make_debug_cursor wrap such a DB-API cursor.
    raw = ServerBindingCursor(connection.connection)  # type: ignore[call-arg]
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)  # type: ignore[arg-type]
    return connection.make_cursor(raw)  # type: ignore[arg-type]


@contextmanager
def cursor() -> Iterator[CursorWrapper]:
    """A cursor for the write path's statements (see `_new_cursor`)."""
    with _new_cursor() as db:
        yield db


@contextmanager
def pipeline() -> Iterator[None]:
    """On PostgreSQL, send the statements executed inside in one round trip
    (psycopg's pipeline mode); their results are there once the block ends.
    Errors that surface when the pipeline syncs are translated as Django
    translates them (an IntegrityError stays an IntegrityError)."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def one_of(column: str, values: Sequence[object]) -> tuple[str, list[Any]]:
    """`column` is one of `values`: one parameter (an array) on PostgreSQL, so
    that the statement is the same whatever the number of values."""
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


@dataclass(frozen=True)
class Query(Generic[T]):
    """A SELECT and how to turn its rows into the caller's value."""

    sql: str
    params: list[Any]  # as the database driver takes them
    build: Callable[[list[tuple[Any, ...]]], T]


def models(
    model: type[Model],
    field_name: str,
    values: Iterable[object],
    *,
    lock: bool = False,
    order_by: str | None = None,
) -> Query[list[Model]] | list[Model]:
    """Rows of `model` whose `field_name` is one of `values`, as instances;
    with `lock`, SELECT … FOR UPDATE. No values: no query, no rows."""
    wanted = list(values)
    if not wanted:
        return []
    rows = shape(model)
    where, params = one_of(rows.column(field_name), wanted)
    sql = f"SELECT {rows.columns()} FROM {rows.table} WHERE {where}"
    if order_by:
        sql += f" ORDER BY {rows.column(order_by)}"
    if lock and connections[DEFAULT_DB_ALIAS].features.has_select_for_update:
        sql += " FOR UPDATE"
    return Query(sql, params, lambda found: [rows.build(row) for row in found])


def values_of(
    model: type[Model], column_of: str, field_name: str, values: Iterable[object]
) -> Query[set[Any]] | set[Any]:
    """The set of `column_of` over rows whose `field_name` is one of `values`."""
    wanted = list(values)
    if not wanted:
        return set()
    rows = shape(model)
    where, params = one_of(rows.column(field_name), wanted)
    sql = f"SELECT {rows.column(column_of)} FROM {rows.table} WHERE {where}"
    return Query(sql, params, lambda found: {row[0] for row in found})


def run(*queries: object) -> list[object]:
    """Each query's value, in order, the queries sent together (`pipeline`)
    and executed in order; an empty answer given for a query stands as it is."""
    cursors: list[CursorWrapper] = []
    try:
        with pipeline():
            for query in queries:
                if isinstance(query, Query):
                    db = _new_cursor()
                    cursors.append(db)
                    db.execute(query.sql, query.params)
        results: list[object] = []
        position = 0
        for query in queries:
            if isinstance(query, Query):
                results.append(query.build(cursors[position].fetchall()))
                position += 1
            else:
                results.append(query)
        return results
    finally:
        for db in cursors:
            db.close()
