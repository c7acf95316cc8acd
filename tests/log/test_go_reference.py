"""What the log serves, checked by Go's reference code (tests/go/reference).

A log of 300 real entries (one full level-0 tile, a partial one, a level-1
tile) is published, its checkpoint cosigned by two witnesses
(cairn_core.cosignature); tiles, entry bundles and proofs are fetched
through the API and written to a fixture that golang.org/x/mod/sumdb's
note and tlog packages check. Then a fixture with a flipped tile byte and a
wrong proof hash, which Go must refuse. And the vectors of tests/vectors
(the contract's formulas), which the core's tests read too.

Without Go (Debian's golang-go and golang-golang-x-mod-dev) the test is
skipped, except in CI (CI set), where it fails: .ci/run installs them.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import cosignature
from cairn_core.tiles import tiles_for_size
from provenance import checkpoints
from provenance.models import Entry
from tests.support import build_log

pytestmark = pytest.mark.django_db
LOG = "/api/v1/log"
ROOT = Path(__file__).resolve().parents[2]
GOPATH = Path("/usr/share/gocode")
EARLIER, SIZE = 100, 300
INCLUSION = [(0, 1), (17, EARLIER), (0, SIZE), (255, 256), (150, 257), (256, SIZE), (299, SIZE)]
CONSISTENCY = [(1, SIZE), (7, 8), (EARLIER, SIZE), (255, 256), (256, SIZE), (SIZE, SIZE)]
WITNESSES = ["witness.example/alpha", "witness.example/beta"]


def go_environment() -> dict[str, str]:
    return {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOPROXY": "off", "GOFLAGS": ""}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The Go program, built offline against Debian's golang.org/x/mod."""
    if shutil.which("go") is None or not (GOPATH / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        if os.environ.get("CI"):
            pytest.fail("Go or golang.org/x/mod is missing: .ci/run installs golang-go and golang-golang-x-mod-dev")
        pytest.skip("needs Go and golang.org/x/mod (apt-get install golang-go golang-golang-x-mod-dev)")
    binary = tmp_path_factory.mktemp("go") / "reference"
    subprocess.run(
        ["go", "build", "-o", str(binary), "./tests/go/reference"],
        cwd=ROOT,
        env=go_environment(),
        check=True,
        timeout=180,
    )
    return binary


def run_reference(binary: Path, fixture: dict, path: Path) -> tuple[int, list[str]]:
    path.write_text(json.dumps(fixture))
    done = subprocess.run([str(binary), str(path)], capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout.splitlines()


def cosigned_checkpoint(api) -> tuple[str, list[str]]:
    """The served checkpoint with a line by each of two witnesses; their vkeys."""
    served = api.get(f"{LOG}/checkpoint").content.decode()
    body = served.split("\n\n", 1)[0] + "\n"
    keys = [Ed25519PrivateKey.generate() for _ in WITNESSES]
    lines = [cosignature.cosign(body, name, key) for name, key in zip(WITNESSES, keys, strict=True)]
    vkeys = [cosignature.vkey(name, cosignature.public_key_of(key)) for name, key in zip(WITNESSES, keys, strict=True)]
    return served + "".join(f"{line}\n" for line in lines), vkeys


def served_files(api, tiles, **auth) -> list[dict[str, str]]:
    files = []
    for tile in tiles:
        response = api.get(f"{LOG}/{tile.path}", **auth)
        assert response.status_code == 200, tile.path
        files.append({"path": tile.path, "data": base64.b64encode(response.content).decode()})
    return files


@pytest.fixture
def fixture(api, ledger, miner, auditor) -> dict:
    # The personas' ledger entries (contract §12) first, then origins up to each size.
    build_log(ledger, miner, EARLIER - Entry.objects.count())
    assert checkpoints.publish_checkpoint().tree_size == EARLIER
    build_log(ledger, miner, SIZE - EARLIER)
    assert checkpoints.publish_checkpoint().tree_size == SIZE
    checkpoint, witness_vkeys = cosigned_checkpoint(api)
    # The tiles of this tree, and the partial level-0 tile of the earlier one.
    tiles = [*tiles_for_size(SIZE), *tiles_for_size(EARLIER)]
    return {
        "log_vkey": api.get(f"{LOG}/key").json()["verifier"],
        "checkpoint": checkpoint,
        "witness_vkeys": witness_vkeys,
        "tiles": served_files(api, tiles),
        "entry_bundles": served_files(api, tiles_for_size(SIZE, entries=True), **auditor.auth),
        "inclusion": [
            api.get(f"{LOG}/proof/inclusion", {"index": index, "tree_size": size}).json() for index, size in INCLUSION
        ],
        "consistency": [
            api.get(f"{LOG}/proof/consistency", {"first": first, "second": second}).json()
            for first, second in CONSISTENCY
        ],
    }


def kinds(lines: list[str], status: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        if line.startswith(f"{status} "):
            kind = line.split()[1]
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def test_go_reference_code_accepts_what_the_log_serves(reference, fixture, tmp_path):
    status, lines = run_reference(reference, fixture, tmp_path / "fixture.json")
    print("\n".join(lines))  # with -s: Go's verdict, one line per check
    assert status == 0, "\n".join(lines)
    assert kinds(lines, "ok") == {
        "checkpoint": 1,
        "cosignature": 2,
        "bundle": 2,
        "root": 1,
        "tile": 4,  # tile/0/000, tile/0/001.p/44, tile/1/000.p/1, tile/0/000.p/100
        "bundle-hashes": 2,
        "tile-reader": 1,
        "inclusion": len(INCLUSION),
        "consistency": len(CONSISTENCY),
    }
    assert kinds(lines, "FAIL") == {}
    assert lines[-1] == "0 failure(s)"


def flip_byte(data_b64: str, position: int) -> str:
    data = bytearray(base64.b64decode(data_b64))
    data[position] ^= 0x01
    return base64.b64encode(bytes(data)).decode()


def test_go_reference_code_refuses_a_flipped_tile_byte_and_a_wrong_proof(reference, fixture, tmp_path):
    broken = copy.deepcopy(fixture)
    full_tile = next(item for item in broken["tiles"] if item["path"] == "tile/0/000")
    full_tile["data"] = flip_byte(full_tile["data"], 32 * 5 + 7)  # leaf 5's hash
    proof = broken["inclusion"][2]  # entry 0 in the tree of 300
    proof["hashes"][3] = proof["hashes"][3][:-1] + ("0" if proof["hashes"][3][-1] != "0" else "1")
    status, lines = run_reference(reference, broken, tmp_path / "broken.json")
    assert status == 1
    failures = [re.sub(r":.*", "", line) for line in lines if line.startswith("FAIL ")]
    assert failures == [
        "FAIL tile tile/0/000 equals tlog.ReadTileData (256 hashes)",
        "FAIL bundle-hashes tile/entries/000",
        "FAIL tile-reader tlog.TileHashReader authenticates the tiles against the checkpoint, 300 leaves",
        "FAIL inclusion of entry 0 in the tree of 300",
    ]
    assert lines[-1] == "4 failure(s)"


VECTORS = ROOT / "tests" / "vectors"


def run_vectors(binary: Path, directory: Path) -> tuple[int, list[str]]:
    done = subprocess.run([str(binary), "vectors", str(directory)], capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout.splitlines()


def test_go_computes_the_contracts_formulas_as_the_vectors_say(reference):
    """tests/vectors, which the core's tests read too: PAE, entry_hash,
    keyid, signatures, leaf input and hash, tree heads, strict JSON."""
    status, lines = run_vectors(reference, VECTORS)
    assert status == 0, "\n".join(lines)
    entries = json.loads((VECTORS / "entries.json").read_text())["cases"]
    roots = json.loads((VECTORS / "merkle.json").read_text())["roots"]
    strict = json.loads((VECTORS / "strict_json.json").read_text())["cases"]
    assert kinds(lines, "ok") == {"vector-entry": len(entries), "vector-root": len(roots), "vector-strict": len(strict)}
    assert lines[-1] == "0 failure(s)"


def test_go_refuses_a_changed_vector(reference, tmp_path):
    for name in ("entries.json", "merkle.json", "strict_json.json"):
        shutil.copy(VECTORS / name, tmp_path / name)
    entries = json.loads((tmp_path / "entries.json").read_text())
    entries["cases"][0]["leaf_hash"] = "00" * 32
    (tmp_path / "entries.json").write_text(json.dumps(entries))
    strict = json.loads((tmp_path / "strict_json.json").read_text())
    strict["cases"][0]["strict"] = False
    (tmp_path / "strict_json.json").write_text(json.dumps(strict))
    status, lines = run_vectors(reference, tmp_path)
    assert status == 1
    assert [re.sub(r":.*", "", line) for line in lines if line.startswith("FAIL ")] == [
        f"FAIL vector-entry {entries['cases'][0]['name']}",
        f"FAIL vector-strict {strict['cases'][0]['why']}",
    ]
