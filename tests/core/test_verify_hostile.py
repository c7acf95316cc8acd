"""`cairn-verify` handed hostile files: it refuses them within its limits,
names wrongly typed fields as failures, never with a traceback.

The bundle is the one made by hand in tests/core/test_bundle_offline.py.
"""

from __future__ import annotations

import copy
import gzip
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest

from cairn_core import bundle, tlog_proof, untrusted, verify_cli
from tests.agreements.domain import domain_ruleset
from tests.core.offline_bundle import OfflineLedger
from tests.core.test_bundle_offline import HAND_COMPUTED, ISSUERS, VIN, log_chain

ROOT = Path(__file__).resolve().parents[2]
UNFORESEEN = "this verifier cannot read"  # the last resort's words: no input here may need it


@pytest.fixture(scope="module")
def made():
    ledger = OfflineLedger()
    au, idm = ledger.org("au-mine", "AU", "supplier"), ledger.org("id-mine", "ID", "supplier")
    refiner, maker = ledger.org("id-refiner", "ID", "supplier"), ledger.org("detroit-cells", "US", "manufacturer")
    log_chain(ledger, au, idm, refiner, maker)
    return ledger, ledger.bundle(VIN, HAND_COMPUTED, ISSUERS, domain_ruleset())


def run_cli(path: Path, log_key: str, *extra: str, memory_limit: int | None = None) -> subprocess.CompletedProcess:
    """cairn-verify as its own process (with an address-space limit when given)."""

    def limit() -> None:
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return subprocess.run(
        [sys.executable, "-m", "cairn_core.verify_cli", str(path), "--log-key", log_key, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        preexec_fn=limit,
    )


def verify_in_process(document: bytes, tmp_path: Path, log_key: str, capsys, *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "bundle.json"
    path.write_bytes(document)
    status = verify_cli.main([str(path), "--log-key", log_key, *extra])
    out, err = capsys.readouterr()
    return status, out, err


# --- size, depth and numbers ------------------------------------------------------------


def gzip_bomb(gib: int) -> bytes:
    """`gib` GiB of zeros as gzip, members of 1 MiB each (a valid gzip file, about 1 KB a MiB)."""
    member = gzip.compress(bytes(1 << 20), compresslevel=9)
    return member * (gib * 1024)


def test_a_gzip_bomb_is_refused_quickly_within_bounded_memory(made, tmp_path):
    ledger, _ = made
    path = tmp_path / "bomb.cairn-bundle.json.gz"
    path.write_bytes(gzip_bomb(8))  # 8 GiB decompressed
    assert path.stat().st_size < 16 * 1024 * 1024
    started = time.monotonic()
    done = run_cli(path, ledger.verifier, memory_limit=1 << 30)  # 8 GiB could never fit in 1 GiB
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert "decompresses to more than 67,108,864 bytes" in done.stderr
    assert "Traceback" not in done.stderr
    print(f"\ngzip bomb of {path.stat().st_size:,} bytes (8 GiB) refused in {elapsed:.1f} s under a 1 GiB limit")
    assert elapsed < 60


def test_one_long_deflate_stream_is_decompressed_a_bounded_piece_at_a_time():
    compressor, chunk = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(1 << 20)
    raw = b"".join(compressor.compress(chunk) for _ in range(96)) + compressor.flush()  # 96 MiB in one member
    tracemalloc.start()
    try:
        with pytest.raises(untrusted.TooLarge):
            untrusted.decompressed(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * untrusted.MAX_BYTES  # the limit's worth, never all of it


def test_a_file_larger_than_the_limit_is_not_read_whole(tmp_path):
    path = tmp_path / "large.json"
    with open(path, "wb") as handle:
        handle.truncate(untrusted.MAX_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(untrusted.TooLarge):
        untrusted.read_file(str(path))


def nested(depth: int) -> dict:
    document: object = "deep"
    for _ in range(depth):
        document = [document]
    return {"rules": document}


@pytest.mark.parametrize("depth", [untrusted.MAX_DEPTH + 1, 100_000])
def test_deep_nesting_is_unreadable_not_a_traceback(made, tmp_path, capsys, depth):
    ledger, document = made
    hostile = {**copy.deepcopy(document), **nested(depth)} if depth < 1000 else None
    raw = json.dumps(hostile).encode() if hostile else b'{"bundle":' + b"[" * depth + b"]" * depth + b"}"
    status, out, err = verify_in_process(raw, tmp_path, ledger.verifier, capsys)
    assert status == 2
    assert f"nested more than {untrusted.MAX_DEPTH} levels deep" in err
    assert out == ""


def test_deep_nesting_inside_an_entry_s_payload_is_a_failure_of_that_entry(made, tmp_path, capsys):
    ledger, document = made
    hostile = copy.deepcopy(document)
    leaf = json.loads(hostile["entries"][0]["leaf_input"])
    leaf["envelope"]["payload"] = untrusted_b64(b"[" * 100_000 + b"]" * 100_000)
    hostile["entries"][0]["leaf_input"] = json.dumps(leaf)
    status, out, err = verify_in_process(json.dumps(hostile).encode(), tmp_path, ledger.verifier, capsys)
    assert status == 1, err
    assert "NOT VERIFIED" in out and "Traceback" not in err


def untrusted_b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


def test_a_5000_digit_entry_index_is_unreadable(made, tmp_path, capsys):
    ledger, document = made
    raw = json.dumps(document).replace('"index": 0,', '"index": ' + "9" * 5000 + ",", 1)
    assert "9" * 5000 in raw
    status, out, err = verify_in_process(raw.encode(), tmp_path, ledger.verifier, capsys)
    assert status == 2
    assert "a number of 5000 characters (at most 40)" in err


def test_a_5000_digit_proof_index_is_a_named_failure(made, tmp_path, capsys):
    ledger, document = made
    hostile = copy.deepcopy(document)
    proof = hostile["entries"][0]["proof"]
    hostile["entries"][0]["proof"] = proof.replace("\nindex 0\n", "\nindex " + "7" * 5000 + "\n", 1)
    assert hostile["entries"][0]["proof"] != proof
    status, out, err = verify_in_process(json.dumps(hostile).encode(), tmp_path, ledger.verifier, capsys)
    assert status == 1, err
    assert "at most 20 digits" in out and "NOT VERIFIED" in out
    with pytest.raises(tlog_proof.ProofError):
        tlog_proof.parse_proof(hostile["entries"][0]["proof"])


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_that_are_not_numbers_are_unreadable(constant):
    with pytest.raises(bundle.NotABundle, match="is not a JSON number"):
        bundle.load('{"bundle": ' + constant + "}")


# --- wrongly typed fields -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("verdict", "problems"), 5),
        (("verdict", "requirements"), "met"),
        (("verdict", "requirements", "foreign_entity_of_concern"), "yes"),
        (("verdict", "agreements"), [{"id": 1}]),
        (("verdict", "applied"), [1, 2]),
        (("log", "verifier"), None),
        (("organizations", 0, "country"), {"code": "AU"}),
        (("rules", "credit", "citations", 0), []),
        (("rules", "credit", "amount_usd"), "NaN"),
    ],
)
def test_a_wrongly_typed_field_is_a_named_failure(made, tmp_path, capsys, path, value):
    ledger, document = made
    hostile = copy.deepcopy(document)
    node = hostile
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    status, out, err = verify_in_process(json.dumps(hostile).encode(), tmp_path, ledger.verifier, capsys)
    assert status in (1, 2), (out, err)
    assert "Traceback" not in err and UNFORESEEN not in err
    if status == 1:
        assert "NOT VERIFIED" in out
