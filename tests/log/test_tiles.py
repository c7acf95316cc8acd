"""GET /api/v1/log/tile/...: C2SP tlog-tiles (contract §4, "Tiles")."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cairn_core import merkle
from cairn_core.tiles import Tile, split_bundle, tile_from_leaves, tiles_for_size
from provenance import checkpoints, tlog
from provenance.models import Entry, MerkleNode
from tests.support import build_log, tamper

pytestmark = pytest.mark.django_db
LOG = "/api/v1/log"
SIZE = 300  # one full level-0 tile, a partial one of 44, a level-1 tile of width 1


@pytest.fixture
def log_of_300(ledger, miner):
    """A published log of SIZE entries: the ledger entries of the personas
    created so far (contract §12), then origins up to SIZE."""
    leaves = build_log(ledger, miner, SIZE - Entry.objects.count())
    assert len(leaves) == SIZE
    assert checkpoints.publish_checkpoint().tree_size == SIZE
    return leaves


def test_every_tile_of_the_published_tree_is_served(api, log_of_300):
    expected = tiles_for_size(SIZE)
    assert [tile.path for tile in expected] == ["tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1"]
    for tile in expected:
        response = api.get(f"{LOG}/{tile.path}")
        assert response.status_code == 200, tile.path
        assert response["Content-Type"] == "application/octet-stream"
        assert response.content == tile_from_leaves(tile, log_of_300)
    # The level-1 hash is the root of the first 256 leaves.
    level_one = api.get(f"{LOG}/tile/1/000.p/1").content
    assert level_one == tlog.root_at(256)


def test_full_tiles_are_immutable_and_partial_ones_short_lived(api, log_of_300):
    assert api.get(f"{LOG}/tile/0/000")["Cache-Control"] == "public, max-age=31536000, immutable"
    assert api.get(f"{LOG}/tile/0/001.p/44")["Cache-Control"] == "public, max-age=60"


def test_narrower_partial_tiles_of_the_published_tree_are_served(api, log_of_300):
    response = api.get(f"{LOG}/tile/0/001.p/7")
    assert response.status_code == 200
    assert response.content == tile_from_leaves(Tile(0, 1, 7), log_of_300)
    assert api.get(f"{LOG}/tile/0/000.p/255").content == tile_from_leaves(Tile(0, 0, 255), log_of_300)


@pytest.mark.parametrize("path", ["tile/0/001.p/45", "tile/0/001", "tile/0/002.p/1", "tile/1/000", "tile/2/000.p/1"])
def test_tiles_beyond_the_published_tree_are_not_found(api, log_of_300, path):
    response = api.get(f"{LOG}/{path}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_tiles_appended_after_the_checkpoint_wait_for_the_next(api, ledger, miner, log_of_300):
    build_log(ledger, miner, 1)
    assert api.get(f"{LOG}/tile/0/001.p/45").status_code == 404
    checkpoints.publish_checkpoint()
    assert api.get(f"{LOG}/tile/0/001.p/45").status_code == 200


def test_no_tile_before_the_first_checkpoint(api, ledger, miner):
    build_log(ledger, miner, 3)
    assert api.get(f"{LOG}/tile/0/000.p/1").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/000.p/256",  # a full tile has no .p/ suffix
        "tile/0/000.p/0",
        "tile/0/000.p/07",
        "tile/00/000",
        "tile/64/000",
        "tile/0/0",
        "tile/0/x000/001",  # not canonical: 1 is "001"
        "tile/0/001/000",  # all but the last group start with x
        "tile/0/x001",
        "tile/0/000/",
        "tile/a/000",
    ],
)
def test_malformed_tile_paths_are_bad_requests(api, path):
    response = api.get(f"{LOG}/{path}")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "bad_request")


def test_a_full_tile_is_one_query_then_served_from_the_cache(api, log_of_300):
    with CaptureQueriesContext(connection) as first:
        assert api.get(f"{LOG}/tile/0/000").status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert api.get(f"{LOG}/tile/0/000").status_code == 200
    tile_queries = [query for query in first.captured_queries if "provenance_entry" in query["sql"]]
    assert len(tile_queries) == 1
    assert len(second.captured_queries) == 0


def test_a_tampered_store_is_a_server_error_not_a_short_tile(api, log_of_300):
    tamper("DELETE FROM provenance_merklenode WHERE id = %s", [MerkleNode.node_id(8, 0)])
    with pytest.raises(tlog.TreeIncomplete):
        api.get(f"{LOG}/tile/1/000.p/1")


def test_entry_bundles_are_for_auditors(api, log_of_300, auditor, miner):
    assert api.get(f"{LOG}/tile/entries/000").status_code == 401
    refused = api.get(f"{LOG}/tile/entries/000", **miner.auth)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "role_not_allowed")
    response = api.get(f"{LOG}/tile/entries/000", **auditor.auth)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"


def test_entry_bundles_hash_to_the_level_0_tiles(api, auditor, log_of_300):
    """The auditor (its ledger entries) first: the published log is every entry."""
    leaf_inputs = []
    for bundle in tiles_for_size(SIZE, entries=True):
        response = api.get(f"{LOG}/{bundle.path}", **auditor.auth)
        assert response.status_code == 200, bundle.path
        leaf_inputs += split_bundle(response.content)
    expected = [entry.leaf_input.encode() for entry in Entry.objects.order_by("index")]
    assert leaf_inputs == expected
    assert [merkle.leaf_hash(item) for item in leaf_inputs] == log_of_300
    assert api.get(f"{LOG}/tile/entries/001.p/45", **auditor.auth).status_code == 404
    assert api.get(f"{LOG}/tile/entries/001.p/256", **auditor.auth).status_code == 400
