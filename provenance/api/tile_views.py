"""C2SP tlog-tiles endpoints under /api/v1/log (contract §4, "Tiles").

    GET /api/v1/log/tile/<L>/<N>[.p/<W>]        hash tiles, public
    GET /api/v1/log/tile/entries/<N>[.p/<W>]    entry bundles, auditors only

A path not of the spec's canonical form is 400 `bad_request`; a well-formed
tile that the latest checkpoint's tree does not have is 404 `not_found`. A
full tile is immutable (long-lived Cache-Control); a partial one is served
briefly, as the spec lets a log drop it once the full tile exists.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.views import APIView

from cairn_core.tiles import ENTRIES, Tile, TilePathError, parse_path
from provenance import tiles
from provenance.api.log_views import PublicLogView
from provenance.api.permissions import IsAuditor
from provenance.api.schema import AUTHENTICATED, errors
from provenance.errors import LedgerError

IMMUTABLE = "max-age=31536000, immutable"
PARTIAL = "max-age=60"


def _tile(prefix: str, coordinates: str) -> Tile:
    try:
        return parse_path(f"{prefix}/{coordinates}")
    except TilePathError as exc:
        raise LedgerError(
            "bad_request", f"{str(exc).capitalize()}; see https://c2sp.org/tlog-tiles for tile paths."
        ) from exc


def _octets(tile: Tile, read, scope: str) -> HttpResponse:
    try:
        data = read(tile)
    except tiles.TileNotFound as exc:
        raise LedgerError("not_found", f"{str(exc).capitalize()}.") from exc
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Cache-Control"] = f"{scope}, {IMMUTABLE if tile.is_full else PARTIAL}"
    return response


def _coordinates(description: str) -> OpenApiParameter:
    return OpenApiParameter("coordinates", OpenApiTypes.STR, OpenApiParameter.PATH, description=description)


def _octet_stream(description: str) -> OpenApiResponse:
    return OpenApiResponse(OpenApiTypes.BINARY, description=description)


class HashTileView(PublicLogView):
    """A hash tile of the latest published tree: W (256 when full) 32-byte hashes."""

    @extend_schema(
        operation_id="log_tile_retrieve",
        parameters=[_coordinates("`<L>/<N>[.p/<W>]`: level 0-63, index in x-prefixed 3-digit groups, width 1-255.")],
        responses={
            (200, "application/octet-stream"): _octet_stream("The tile's hashes, concatenated."),
            **errors("Tile", "bad_request", "not_found", "rate_limited"),
        },
        description="A C2SP tlog-tiles hash tile, e.g. `tile/0/x001/234` or `tile/1/000.p/17`.",
    )
    def get(self, request, coordinates: str):
        tile = _tile("tile", coordinates)
        if tile.level == ENTRIES:  # routed to EntryBundleView; never a hash tile
            raise LedgerError("not_found", "Entry bundles are at tile/entries/<N>.")
        return _octets(tile, tiles.hash_tile, "public")


class EntryBundleView(APIView):
    """An entry bundle: the leaf inputs of W (256 when full) entries, each
    after its 2-byte big-endian length; for auditors, like /log/entries."""

    permission_classes = [IsAuditor]

    @extend_schema(
        operation_id="log_tile_entries_retrieve",
        parameters=[_coordinates("`<N>[.p/<W>]`: index in x-prefixed 3-digit groups, width 1-255.")],
        responses={
            (200, "application/octet-stream"): _octet_stream("Length-framed leaf inputs (contract §4)."),
            **errors("EntryBundle", *AUTHENTICATED, "bad_request", "not_found"),
        },
        description="A C2SP tlog-tiles entry bundle, e.g. `tile/entries/000` or `tile/entries/001.p/44`.",
    )
    def get(self, request, coordinates: str):
        return _octets(_tile("tile/entries", coordinates), tiles.entry_bundle, "private")
