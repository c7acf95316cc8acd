"""JSON Schemas of the contract's documents, for implementers in other languages.

`attestation.schema.json` describes the statement grammar of contract §3
(`cairn_core.payload` is the authority: the schema's description lists what
the grammar checks that a schema cannot say). The server serves it at
`GET /api/v1/attestations/schema`; tests hold it to the grammar.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

ATTESTATION = "attestation.schema.json"


def attestation_schema_bytes() -> bytes:
    """The schema file, byte for byte as distributed."""
    return resources.files(__name__).joinpath(ATTESTATION).read_bytes()


@cache
def attestation_schema() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(attestation_schema_bytes())
    return document
