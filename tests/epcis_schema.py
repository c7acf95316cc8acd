"""GS1's EPCIS 2.0 JSON Schema, as GS1 publishes it, from ../shared/vendor/gs1-epcis/
beside the repository (never copied in), with its formats checked."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

SCHEMA = Path(__file__).resolve().parents[1] / ".." / "shared" / "vendor" / "gs1-epcis" / "EPCIS-JSON-Schema.json"


def validator() -> jsonschema.Draft7Validator:
    """Draft 7 (the schema's own $schema) with the format checker on: `uri`
    and `date-time` are checked, not only the shapes."""
    if not SCHEMA.exists():
        pytest.skip(f"GS1's EPCIS 2.0 JSON Schema is not at {SCHEMA.resolve()}")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    assert {"uri", "date-time"} <= set(checker.checkers), "jsonschema's format extra is not installed"
    return jsonschema.Draft7Validator(schema, format_checker=checker)


def errors(document: object) -> list[str]:
    """Every complaint of GS1's schema about a JSON document (parsed as a partner would)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(document)]
