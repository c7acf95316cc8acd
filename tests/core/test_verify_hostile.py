"""`cairn-verify` handed hostile files: it refuses them within its limits,
exits 0, 1, 2 or 3 only, never with a traceback, and prints nothing from
the file that a terminal would act on.

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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn_core import bundle, tlog_proof, untrusted, verify_cli
from tests.agreements.domain import domain_ruleset
from tests.core.offline_bundle import HAND_COMPUTED, ISSUERS, VIN, OfflineLedger, log_chain

ROOT = Path(__file__).resolve().parents[2]
# What the verifier may answer: verified, failed, unreadable, unanchored.
EXIT_STATUSES = {0, 1, 2, 3}
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


# --- what reaches the terminal ------------------------------------------------------------

HIDDEN = "\x1b[8m"  # SGR 8: what follows is invisible on a terminal
BIDI = "\u202e"  # RIGHT-TO-LEFT OVERRIDE


def with_problem_message(document: dict, message: str) -> dict:
    hostile = copy.deepcopy(document)
    hostile["verdict"]["problems"][0]["message"] = message
    return hostile


def test_a_problem_message_cannot_hide_not_verified(made, tmp_path, capsys):
    ledger, document = made
    hostile = with_problem_message(document, f"below the required 60%{HIDDEN}\r\nVERIFIED: all good{BIDI}")
    status, out, err = verify_in_process(json.dumps(hostile).encode(), tmp_path, ledger.verifier, capsys)
    assert status == 1
    assert "\x1b" not in out and BIDI not in out and "\r" not in out
    assert "\\x1b[8m" in out and "\\u202e" in out and "\\x0d\\x0aVERIFIED: all good" in out
    assert not any(line.startswith("VERIFIED") for line in out.splitlines())
    assert any(line.startswith("NOT VERIFIED") for line in out.splitlines())


def test_json_output_stays_json_with_the_strings_as_they_are(made, tmp_path, capsys):
    ledger, document = made
    message = f"below{HIDDEN} the required{BIDI} 60%"
    status, out, _ = verify_in_process(
        json.dumps(with_problem_message(document, message)).encode(), tmp_path, ledger.verifier, capsys, "--json"
    )
    assert status == 1
    assert "\x1b" not in out and BIDI not in out  # JSON's own escapes
    assert json.loads(out)["verdict"]["problems"][0]["message"] == message


def test_a_vin_and_agreement_names_are_escaped(made, tmp_path, capsys):
    ledger, document = made
    hostile = copy.deepcopy(document)
    hostile["verdict"]["vin"] = f"{VIN}{HIDDEN}"
    hostile["verdict"]["agreements"] = [f"us-au-fta{BIDI}"]
    status, out, _ = verify_in_process(json.dumps(hostile).encode(), tmp_path, ledger.verifier, capsys)
    assert status == 1
    assert "\x1b" not in out and BIDI not in out
    assert "us-au-fta\\u202e" in out


def test_an_unreadable_file_s_text_is_escaped_on_standard_error(tmp_path, capsys):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps({"bundle": "x", f"section{HIDDEN}": 1}))
    assert verify_cli.main([str(path)]) == 2
    _, err = capsys.readouterr()
    assert "\x1b" not in err


def test_printable_escapes_only_what_a_terminal_would_act_on():
    assert untrusted.printable("VIN 5YJ3 – 26.53% … ✓ Zürich") == "VIN 5YJ3 – 26.53% … ✓ Zürich"
    assert untrusted.printable("a\x1b[8mb\tc\nd\u202ee\u2066f\x7f") == "a\\x1b[8mb\\x09c\\x0ad\\u202ee\\u2066f\\x7f"


# --- mangled bundles (bounded fuzzing) -------------------------------------------------------

HOSTILE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "0" * 60, HIDDEN, "9" * 5000, "NaN", "-1", "1e999999", "2026-13-45T99:99:99Z"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def json_paths(node: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += json_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for position, value in enumerate(node):
            found += json_paths(value, (*prefix, position))
    return found


@st.composite
def mangled(draw, document: dict) -> bytes:
    """The bundle with one to three fields replaced, removed, or its bytes cut or flipped, or gzipped."""
    hostile = copy.deepcopy(document)
    paths = json_paths(hostile)[1:]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        node = hostile
        try:
            for key in path[:-1]:
                node = node[key]
            if draw(st.booleans()) and isinstance(node, dict):
                node.pop(path[-1], None)
            else:
                node[path[-1]] = draw(HOSTILE_VALUES)
        except (KeyError, IndexError, TypeError):  # an earlier change removed the way there
            pass
    raw = json.dumps(hostile).encode()
    how = draw(st.sampled_from(["as is", "as is", "cut", "flip", "gzip", "gzip cut"]))
    if how in ("gzip", "gzip cut"):
        raw = gzip.compress(raw)
    if how in ("cut", "gzip cut"):
        raw = raw[: draw(st.integers(0, len(raw)))]
    if how == "flip":
        position = draw(st.integers(0, len(raw) - 1))
        raw = raw[:position] + bytes([raw[position] ^ draw(st.integers(1, 255))]) + raw[position + 1 :]
    return raw


def test_mangled_bundles_exit_0_1_2_or_3_never_with_a_traceback(made, tmp_path_factory, monkeypatch, capsys):
    ledger, document = made
    directory = tmp_path_factory.mktemp("mangled")
    monkeypatch.setattr(verify_cli.os, "cpu_count", lambda: 1)  # signatures checked in-process: quicker

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(raw=mangled(document))
    def check(raw: bytes) -> None:
        status, out, err = verify_in_process(raw, directory, ledger.verifier, capsys)
        assert status in EXIT_STATUSES
        assert "Traceback" not in err and UNFORESEEN not in err, err
        if status == 0:
            assert "NOT VERIFIED" not in out
        assert "\x1b" not in out + err

    check()
