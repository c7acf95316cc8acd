"""cairn_core.tiles (C2SP tlog-tiles): paths, tiles of a tree, bundles, tile hashes."""

from __future__ import annotations

import pytest

from cairn_core import merkle
from cairn_core.tiles import (
    ENTRIES,
    BundleError,
    Tile,
    TilePathError,
    format_index,
    frame_entries,
    parse_path,
    split_bundle,
    split_hashes,
    tile_from_leaves,
    tiles_for_size,
)
from tests.support import ref_mth

# The spec's example and Go's tlog tile_test.go paths, without Go's height element.
PATHS = [
    ("tile/0/x001/x234/067", Tile(0, 1234067)),
    ("tile/0/x001/x234/067.p/5", Tile(0, 1234067, 5)),
    ("tile/4/x123/x456/789.p/1", Tile(4, 123456789, 1)),
    ("tile/63/000", Tile(63, 0)),
    ("tile/0/999", Tile(0, 999)),
    ("tile/0/x001/000", Tile(0, 1000)),
    ("tile/entries/001.p/44", Tile(ENTRIES, 1, 44)),
    ("tile/entries/x001/x000/000", Tile(ENTRIES, 1_000_000)),
]


@pytest.mark.parametrize(("path", "tile"), PATHS)
def test_paths_parse_and_format_both_ways(path, tile):
    assert parse_path(path) == tile
    assert tile.path == path


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/010",
        "tile/00/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/0",
        "tile/0/0000",
        "tile/0/x000/001",
        "tile/0/001/000",
        "tile/0/x001",
        "tile/0/000/",
        "tile/0/.p/1",
        "tile/0",
        "tiles/0/000",
        "tile/data/000",
        "tile/8/0/000",
    ],
)
def test_non_canonical_paths_are_refused(path):
    with pytest.raises(TilePathError):
        parse_path(path)


def test_index_groups():
    assert [format_index(n) for n in (0, 7, 999, 1000, 1234067)] == ["000", "007", "999", "x001/000", "x001/x234/067"]


def test_the_spec_example_tree_of_70000():
    tiles = tiles_for_size(70_000)
    assert len(tiles) == 273 + 1 + 1 + 1 + 1
    assert [tile.path for tile in tiles[273:]] == [
        "tile/0/273.p/112",
        "tile/1/000",
        "tile/1/001.p/17",
        "tile/2/000.p/1",
    ]
    assert [tile.path for tile in tiles_for_size(256)] == ["tile/0/000", "tile/1/000.p/1"]
    assert tiles_for_size(0) == []
    assert [tile.path for tile in tiles_for_size(300, entries=True)] == ["tile/entries/000", "tile/entries/001.p/44"]


def test_tile_hashes_from_leaves_against_the_rfc_reference():
    leaf_inputs = [f"leaf {i}".encode() for i in range(256 * 3 + 5)]
    leaves = [merkle.leaf_hash(item) for item in leaf_inputs]
    level_zero = tile_from_leaves(Tile(0, 2, 5), leaves)
    assert split_hashes(level_zero) == leaves[512:517]
    level_one = split_hashes(tile_from_leaves(Tile(1, 0, 3), leaves))
    assert level_one == [ref_mth(leaf_inputs[i * 256 : (i + 1) * 256]) for i in range(3)]
    with pytest.raises(ValueError):
        tile_from_leaves(Tile(1, 0, 4), leaves)


def test_bundles_frame_and_split():
    entries = [b"", b"a", b"x" * 65535]
    bundle = frame_entries(entries)
    assert bundle[:5] == b"\x00\x00\x00\x01a"
    assert split_bundle(bundle) == entries
    with pytest.raises(BundleError):
        frame_entries([b"x" * 65536])
    for cut in (bundle[:4], bundle[:-1], b"\x00"):
        with pytest.raises(BundleError):
            split_bundle(cut)
