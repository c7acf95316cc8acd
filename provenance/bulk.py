"""Many inserts and updates in one round trip (PostgreSQL).

The write path holds the log's tail lock from its SELECT … FOR UPDATE to
its COMMIT, so every round trip inside costs every other writer. Django
compiles the statements exactly as `bulk_create` and `save(update_fields=…)`
would; on PostgreSQL (client-side binding) they are sent as one
multi-statement query, elsewhere one after another.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import AutoField, Model
from django.db.models.sql import InsertQuery, UpdateQuery

Statement = tuple[str, list]


def insert(objs: list[Model]) -> list[Statement]:
    """The INSERT of `objs` (all of one model), as bulk_create would send it."""
    if not objs:
        return []
    model = type(objs[0])
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
    fields = [field for field in model._meta.concrete_fields if not getattr(field, "generated", False)]
    if objs[0].pk is None:
        fields = [field for field in fields if not isinstance(field, AutoField)]
    query = InsertQuery(model)
    query.insert_values(fields, objs, raw=False)
    statements = query.get_compiler(connection=connection).as_sql()
    for obj in objs:
        obj._state.adding = False
    return [(sql, list(params)) for sql, params in statements]


def update(obj: Model, field_names: list[str]) -> Statement:
    """UPDATE one row's fields, by primary key."""
    query = UpdateQuery(type(obj))
    meta = obj._meta
    query.add_update_values({name: getattr(obj, meta.get_field(name).attname) for name in field_names})
    query.add_filter("pk", obj.pk)
    sql, params = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def execute(statements: list[Statement]) -> None:
    if not statements:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(";\n".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
        else:
            for sql, params in statements:
                cursor.execute(sql, params)
