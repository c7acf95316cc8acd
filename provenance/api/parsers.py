"""The API's JSON parser: strict like the envelope and payload grammar.

DRF's JSONParser lets through what breaks the server or the contract: deep
nesting (a RecursionError, a 500), integers of thousands of digits (a
ValueError, a 500), duplicate keys (the last wins silently), NUL and lone
surrogates (which PostgreSQL refuses mid-query). This parser refuses them
all as a ParseError, which the API answers 400 `invalid_payload`.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from cairn_core.payload import PayloadError, strict_json


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read() if stream is not None else b""
        try:
            return strict_json(data)
        except PayloadError as exc:
            raise ParseError(f"The request body is refused: {exc}.") from exc
