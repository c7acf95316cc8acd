"""No provenance table keeps a constraint or index named for another app
(a model moved from one, as EntryAgreementLink did from agreements, keeps
the names Django generated there until a migration renames them: 0010)."""

from __future__ import annotations

from django.apps import apps
from django.db import connection


def test_no_provenance_constraint_or_index_has_another_apps_prefix(db):
    others = tuple(f"{config.label}_" for config in apps.get_app_configs() if config.label != "provenance")
    tables = {model._meta.db_table for model in apps.get_app_config("provenance").get_models()}
    with connection.cursor() as cursor:
        names = {(table, name) for table in tables for name in connection.introspection.get_constraints(cursor, table)}
    assert ("provenance_entryagreementlink", "entry_links_by_agreement") in names  # the introspection sees names
    assert sorted((table, name) for table, name in names if name.startswith(others)) == []
