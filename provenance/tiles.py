"""The log's C2SP tlog-tiles, read from the stored tree (contract §4, "Tiles").

A hash tile lists consecutive stored nodes at one height (cairn_core.tiles):
level 0 is Entry.leaf_hash, level l >= 1 the MerkleNode rows at height 8 * l,
whose packed ids (height << 48 | index) are consecutive, so every tile is one
range query. An entry bundle is the entries' leaf inputs, framed.

Only published trees are served (the spec: "logs serve tiles for tree sizes
for which a checkpoint was produced"): a tile that reaches beyond the latest
checkpoint's size does not exist yet. A full tile never changes once it
exists, because the log only grows and checkpoints only grow; so its bytes
are cached by (ledger key, level, index) and a cached tile is served without
reading the database at all.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

from cairn_core.entries import stored_leaf_input
from cairn_core.tiles import ENTRIES, HASH_SIZE, Tile, frame_entries
from provenance import ledger_key, tlog
from provenance.models import Checkpoint, Entry, MerkleNode

CACHE_SECONDS = 24 * 3600


class TileNotFound(LookupError):
    """The published tree does not (yet) have this tile."""


def hash_tile(tile: Tile) -> bytes:
    """The bytes of hash tile `tile` of the latest published tree."""
    if tile.level == ENTRIES:
        raise ValueError("an entry bundle is not a hash tile")
    key = _cache_key(tile) if tile.is_full else None
    cached = _cached(key) if key else None
    if cached is not None:
        return cached
    _check_published(tile)
    data = b"".join(bytes.fromhex(node) for node in _stored_hashes(tile))
    if len(data) != tile.width * HASH_SIZE:
        raise tlog.TreeIncomplete(f"the stored tree lacks hashes of {tile.path}")
    if key:
        _keep(key, data)
    return data


def entry_bundle(tile: Tile) -> bytes:
    """The entry bundle `tile` of the latest published tree: leaf inputs, framed."""
    if tile.level != ENTRIES:
        raise ValueError("a hash tile is not an entry bundle")
    _check_published(tile)
    rows = (
        Entry.objects.filter(index__gte=tile.first, index__lt=tile.first + tile.width)
        .order_by("index")
        .values_list("envelope", "integrated_time")
    )
    leaf_inputs = [stored_leaf_input(envelope, time) for envelope, time in rows]
    if len(leaf_inputs) != tile.width:
        raise tlog.TreeIncomplete(f"the stored log lacks entries of {tile.path}")
    return frame_entries(leaf_inputs)


def published_size() -> int | None:
    """The latest checkpoint's tree size, or None before the first."""
    return Checkpoint.objects.order_by("-tree_size").values_list("tree_size", flat=True).first()


def _check_published(tile: Tile) -> None:
    size = published_size()
    if size is None or tile.needs_tree_size() > size:
        raise TileNotFound(f"{tile.path} is not in the latest published tree (size {size or 0})")


def _stored_hashes(tile: Tile) -> list[str]:
    """The tile's hashes, hex, in order: one range query."""
    end = tile.first + tile.width
    if tile.level == 0:
        leaves = Entry.objects.filter(index__gte=tile.first, index__lt=end).order_by("index")
        return list(leaves.values_list("leaf_hash", flat=True))
    height = tile.node_level
    nodes = MerkleNode.objects.filter(
        id__gte=MerkleNode.node_id(height, tile.first), id__lt=MerkleNode.node_id(height, end)
    ).order_by("id")
    return list(nodes.values_list("hash", flat=True))


def _cache_key(tile: Tile) -> str:
    # Keyed by the ledger's verifier (origin and key): another log's tiles,
    # in a cache shared with it, are never served as this one's.
    log = hashlib.sha256(ledger_key.current().verifier.encode()).hexdigest()[:16]
    return f"cairn:tile:{log}:{tile.level}:{tile.index}"


# The cache is an accelerator: when it is down, tiles are read from the
# database (as the throttle fails open, provenance.api.throttles).


def _cached(key: str) -> bytes | None:
    try:
        value = cache.get(key)
    except Exception:  # the cache is unreachable: read the database instead
        return None
    return value if isinstance(value, bytes) else None


def _keep(key: str, data: bytes) -> None:
    try:
        cache.set(key, data, CACHE_SECONDS)
    except Exception:  # the cache is unreachable: the next request reads the database
        return
