"""C2SP tlog-tiles: tile coordinates, their paths, entry bundles (contract §4).

Implements https://c2sp.org/tlog-tiles for RFC 9162 trees:

    <prefix>/tile/<L>/<N>[.p/<W>]        hash tile: W hashes of 32 bytes
    <prefix>/tile/entries/<N>[.p/<W>]    entry bundle: W length-framed leaf inputs

A tile has height 8. The n-th tile at level l lists, for i in 0..W-1,

    MTH(D[(n * 256 + i) * 256**l : (n * 256 + i + 1) * 256**l])

that is the stored tree's nodes at height 8 * l, indexes n * 256 .. n * 256 + W - 1.
A full tile has W = 256 and no `.p/` suffix; a partial tile has 1 <= W <= 255.
L is decimal 0..63 with no leading zero; N is written in 3-digit groups, all
but the last prefixed with `x` (1234067 is `x001/x234/067`); W is decimal with
no leading zero. A tree of size s has the partial tile of width
floor(s / 256**l) mod 256 at each level, when that is not 0.

An entry bundle is its entries' leaf inputs, each preceded by its length as
a 2-byte big-endian integer; so a leaf input is at most 65,535 bytes.

Paths here are relative to the prefix ("tile/0/x001/234"). Go's
golang.org/x/mod/sumdb/tlog writes the same tiles with the height in the
path ("tile/8/0/x001/234") and calls the entries level "data".

No Django import: an independent verifier can use this file alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cairn_core import merkle

HEIGHT = 8
WIDTH = 1 << HEIGHT  # hashes (or entries) in a full tile
HASH_SIZE = 32
MAX_LEVEL = 63
ENTRIES = -1  # the level of entry bundles, as Go's tlog numbers it
MAX_LEAF_INPUT = 0xFFFF  # what a 2-byte length can frame

_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_GROUP = re.compile(r"[0-9]{3}")


class TilePathError(ValueError):
    """Not a tile path of the spec's form."""


class BundleError(ValueError):
    """An entry bundle that is not a sequence of length-framed entries."""


@dataclass(frozen=True, order=True)
class Tile:
    """Tile `index` of `level` (ENTRIES for an entry bundle), `width` wide."""

    level: int
    index: int
    width: int = WIDTH

    def __post_init__(self) -> None:
        if not ENTRIES <= self.level <= MAX_LEVEL or self.index < 0 or not 1 <= self.width <= WIDTH:
            raise TilePathError(f"no tile at level {self.level}, index {self.index}, width {self.width}")

    @property
    def is_full(self) -> bool:
        return self.width == WIDTH

    @property
    def path(self) -> str:
        level = "entries" if self.level == ENTRIES else str(self.level)
        partial = "" if self.is_full else f".p/{self.width}"
        return f"tile/{level}/{format_index(self.index)}{partial}"

    @property
    def node_level(self) -> int:
        """The height in the tree of the hashes a hash tile lists (leaves: 0)."""
        return HEIGHT * max(self.level, 0)

    @property
    def first(self) -> int:
        """The index, at node_level, of the tile's first hash (or entry)."""
        return self.index * WIDTH

    def needs_tree_size(self) -> int:
        """The smallest tree that has this tile: its last hash's subtree ends there."""
        return (self.first + self.width) << self.node_level


def format_index(index: int) -> str:
    """N as the spec's path elements: 3-digit groups, all but the last x-prefixed."""
    if index < 0:
        raise TilePathError("a tile index is not negative")
    groups = [f"{index % 1000:03d}"]
    while index >= 1000:
        index //= 1000
        groups.append(f"x{index % 1000:03d}")
    return "/".join(reversed(groups))


def parse_path(path: str) -> Tile:
    """The tile named by "tile/<L or entries>/<N>[.p/<W>]", in canonical form only.

    As in Go's tlog.ParseTilePath, a path that does not format back to
    itself (a leading zero group, an `x` on the last group) is refused.
    """
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise TilePathError(f"not a tile path: {path!r}")
    level_text, groups = parts[1], parts[2:]
    width = WIDTH
    if len(groups) >= 2 and groups[-2].endswith(".p"):
        if not _WIDTH.fullmatch(groups[-1]) or int(groups[-1]) >= WIDTH:
            raise TilePathError(f"a partial tile's width is 1 to {WIDTH - 1}: {path!r}")
        width, groups = int(groups[-1]), [*groups[:-2], groups[-2][: -len(".p")]]
    if level_text == "entries":
        level = ENTRIES
    elif _LEVEL.fullmatch(level_text) and int(level_text) <= MAX_LEVEL:
        level = int(level_text)
    else:
        raise TilePathError(f"a tile's level is 0 to {MAX_LEVEL} or 'entries': {path!r}")
    tile = Tile(level, _parse_index(groups, path), width)
    if tile.path != path:
        raise TilePathError(f"not the canonical tile path: {path!r} (is {tile.path!r})")
    return tile


def _parse_index(groups: list[str], path: str) -> int:
    index = 0
    for position, group in enumerate(groups):
        digits = group[1:] if position < len(groups) - 1 and group.startswith("x") else group
        if not _GROUP.fullmatch(digits):
            raise TilePathError(f"a tile index is written in 3-digit groups: {path!r}")
        index = index * 1000 + int(digits)
    return index


def tiles_for_size(tree_size: int, *, entries: bool = False) -> list[Tile]:
    """Every hash tile (or entry bundle) a tree of `tree_size` has: the full
    ones, then the partial one at the end of each level."""
    levels = [ENTRIES] if entries else range(MAX_LEVEL + 1)
    found: list[Tile] = []
    for level in levels:
        count = tree_size >> (HEIGHT * max(level, 0))  # hashes at this level
        if count == 0:
            break
        found += [Tile(level, index) for index in range(count // WIDTH)]
        if count % WIDTH:
            found.append(Tile(level, count // WIDTH, count % WIDTH))
    return found


def frame_entries(leaf_inputs: Iterable[bytes]) -> bytes:
    """An entry bundle: each leaf input after its 2-byte big-endian length."""
    framed = bytearray()
    for leaf_input in leaf_inputs:
        if len(leaf_input) > MAX_LEAF_INPUT:
            raise BundleError(f"a leaf input of {len(leaf_input)} bytes does not fit a 2-byte length")
        framed += len(leaf_input).to_bytes(2, "big") + leaf_input
    return bytes(framed)


def split_bundle(bundle: bytes) -> list[bytes]:
    """The leaf inputs of an entry bundle, in order."""
    entries, position = [], 0
    while position < len(bundle):
        if position + 2 > len(bundle):
            raise BundleError(f"a length is cut off at byte {position}")
        length = int.from_bytes(bundle[position : position + 2], "big")
        start, position = position + 2, position + 2 + length
        if position > len(bundle):
            raise BundleError(f"an entry of {length} bytes at byte {start} runs past the bundle's end")
        entries.append(bundle[start:position])
    return entries


def split_hashes(tile_data: bytes) -> list[bytes]:
    """A hash tile's 32-byte hashes."""
    if len(tile_data) % HASH_SIZE or not tile_data or len(tile_data) > WIDTH * HASH_SIZE:
        raise ValueError(f"a hash tile is 1 to {WIDTH} hashes of {HASH_SIZE} bytes, not {len(tile_data)} bytes")
    return [tile_data[i : i + HASH_SIZE] for i in range(0, len(tile_data), HASH_SIZE)]


def tile_from_leaves(tile: Tile, leaf_hashes: list[bytes]) -> bytes:
    """The bytes of hash tile `tile` computed from the tree's leaf hashes (a
    verifier's check of a served tile; needs the leaves it spans)."""
    if tile.level == ENTRIES:
        raise TilePathError("an entry bundle holds leaf inputs, not hashes")
    span = 1 << tile.node_level
    if len(leaf_hashes) < tile.needs_tree_size():
        raise ValueError(f"{tile.path} needs {tile.needs_tree_size()} leaves, not {len(leaf_hashes)}")
    starts = ((tile.first + offset) * span for offset in range(tile.width))
    return b"".join(perfect_subtree(leaf_hashes[start : start + span]) for start in starts)


def perfect_subtree(leaf_hashes: list[bytes]) -> bytes:
    """RFC 9162 MTH of a power-of-two count of leaves, given their leaf hashes."""
    level = list(leaf_hashes)
    while len(level) > 1:
        level = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
