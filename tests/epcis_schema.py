"""GS1's EPCIS 2.0 JSON Schema, as GS1 publishes it, from ../shared/vendor/gs1-epcis/
beside the repository (never copied in), with its formats checked.

The validator is built once and reused. It validates against the schema
with its `$ref`s resolved once, in memory: every one is local
(`#/definitions/…`) and none is recursive, so the schema is the same, and
jsonschema no longer looks each reference up again for every event it
validates (about half the time on a 1,000-event export, `bench/epcis.py`).
`test_epcis_export.py` checks that both give the same errors."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest

SCHEMA = Path(__file__).resolve().parents[1] / ".." / "shared" / "vendor" / "gs1-epcis" / "EPCIS-JSON-Schema.json"


def published() -> dict[str, Any]:
    if not SCHEMA.exists():
        pytest.skip(f"GS1's EPCIS 2.0 JSON Schema is not at {SCHEMA.resolve()}")
    schema: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return schema


def resolved(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every local `$ref` replaced by what it names (Draft 7:
    a `$ref`'s sibling keywords are ignored, so they are left out)."""

    def target(pointer: str) -> Any:
        node: Any = schema
        for part in pointer.removeprefix("#/").split("/"):
            node = node[unquote(part).replace("~1", "/").replace("~0", "~")]
        return node

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str):
                if not reference.startswith("#/") or reference in seen:
                    raise ValueError(f"{reference}: not a local, non-recursive reference")
                return walk(target(reference), (*seen, reference))
            return {key: walk(value, seen) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, seen) for item in node]
        return node

    return {key: walk(value, ()) for key, value in schema.items() if key != "definitions"}


def build(schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    """Draft 7 (the schema's own $schema) with the format checker on: `uri`
    and `date-time` are checked, not only the shapes."""
    jsonschema.Draft7Validator.check_schema(schema)
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    assert {"uri", "date-time"} <= set(checker.checkers), "jsonschema's format extra is not installed"
    return jsonschema.Draft7Validator(schema, format_checker=checker)


@functools.cache
def validator() -> jsonschema.Draft7Validator:
    return build(resolved(published()))


def messages(errors: Any) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def errors(document: object) -> list[str]:
    """Every complaint of GS1's schema about a JSON document (parsed as a partner would)."""
    return messages(validator().iter_errors(document))
