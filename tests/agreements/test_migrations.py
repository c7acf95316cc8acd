"""The layers hold in the migrations: an app's migrations wait only for its own and lower apps'."""

from __future__ import annotations

from django.db.migrations.loader import MigrationLoader

LAYERS = ["agreements", "provenance", "audit"]  # bottom to top, as the import layers


def test_migrations_depend_only_on_their_own_layer_and_below():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    upward = [
        (app, name, dependency)
        for (app, name), migration in loader.disk_migrations.items()
        if app in LAYERS
        for dependency in migration.dependencies
        if dependency[0] in LAYERS and LAYERS.index(dependency[0]) > LAYERS.index(app)
    ]
    assert upward == []


def test_the_rules_migrate_without_the_ledger():
    """agreements' migrations name no provenance model: the ledger is the layer above."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    state = loader.project_state(("agreements", "0006_designations_by_slug"), at_end=True)
    assert sorted({app for app, _ in state.models} - {"auth", "contenttypes"}) == ["agreements"]
