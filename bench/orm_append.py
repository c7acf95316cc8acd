"""The append's rows written by the plain ORM, for the benchmark's `orm` modes.

`provenance.append.sql.write` sends a batch's rows in one hand-written statement on
PostgreSQL. This writes the same rows, in the same transaction under the
same locks, with `bulk_create` per table and one queryset `update` per
updated row: what the write path would do without the hand-written SQL.
Installed by bench/urls.py in the gunicorn workers when
CAIRN_BENCH_ORM_APPEND is set; never in Cairn itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from provenance.append import sql


def write(inserts: Sequence[sql.Rows], updates: Sequence[sql.Rows] = ()) -> None:
    for target, values in inserts:
        if values:
            names = [field.attname for field in target.fields]
            target.model._default_manager.bulk_create(
                [target.model(**dict(zip(names, row, strict=True))) for row in values]
            )
    for target, values in updates:
        names = [field.attname for field in target.fields]
        for row in values:
            changes = dict(zip(names[1:], row[1:], strict=True))
            target.model._default_manager.filter(pk=row[0]).update(**changes)


def install() -> None:
    sql.write = write  # ledger_write calls sql.write through the module
