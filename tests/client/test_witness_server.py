"""Cairn's own C2SP tlog-witness: cairn_core.tlog_witness, its server and `cairn witness`.

The log is built here from RFC 9162's recursive definitions (the reference
of tests/core/test_merkle.py) and signed with a test key; every refusal is
checked for its status, for the absence of a cosignature, and for a state
left exactly as it was.
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import cosignature, signed_note, tlog_witness
from cairn_core.client import keys as keyfiles
from cairn_core.client import witness_server
from cairn_core.client.witness_cli import witness as witness_commands
from cairn_core.tlog_witness import SIZE_TYPE, StateError, Witness, WitnessState
from tests.support import ref_mth, ref_proof

ORIGIN = "cairn.test/log"
WITNESS_NAME = "witness.test/w1"
NOW = 1_767_225_600
# Enough for the race test: 10 rounds of up to 4 each from 4, whichever thread wins.
LEAVES = [f"entry {index}".encode() for index in range(48)]
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LOG_VERIFIER = signed_note.Verifier(
    ORIGIN, signed_note.key_hash(ORIGIN, cosignature.public_key_of(LOG_KEY)), cosignature.public_key_of(LOG_KEY)
)
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
WITNESS_VKEY = cosignature.vkey(WITNESS_NAME, cosignature.public_key_of(WITNESS_KEY))


# --- the log and the requests --------------------------------------------------------


def checkpoint(size: int, leaves: list[bytes] = LEAVES, key: Ed25519PrivateKey = LOG_KEY, origin: str = ORIGIN) -> str:
    return signed_note.sign_checkpoint(origin, size, ref_mth(leaves[:size]), key)


def request(old: int, note: str, proof: list[bytes] | None = None) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(node).decode() for node in proof or []), "", ""]
    return "\n".join(lines).encode() + note.encode()


def extend(old: int, new: int, leaves: list[bytes] = LEAVES) -> bytes:
    """A valid request from size `old` to the checkpoint of size `new`."""
    return request(old, checkpoint(new, leaves), ref_proof(old, leaves[:new]))


def body_of(note: str) -> str:
    return signed_note.split_note(note)[0]


FORKED = [*LEAVES[:3], b"a different entry 3", *LEAVES[4:]]


@dataclass
class Setup:
    directory: Path
    witness: Witness

    def reopen(self) -> Witness:
        """A new Witness on the same state directory, as after a restart."""
        self.witness.state.close()
        self.witness = make_witness(self.directory, init=False)
        return self.witness

    def files(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.directory)): p.read_bytes() for p in sorted(self.directory.rglob("*.json"))}

    def state_files(self) -> dict[str, bytes]:
        return {name: data for name, data in self.files().items() if not name.startswith("evidence")}


def make_witness(directory: Path, init: bool) -> Witness:
    opener = WitnessState.create if init else WitnessState.open
    state = opener(directory, WITNESS_VKEY, [ORIGIN])
    return Witness(WITNESS_NAME, WITNESS_KEY, [LOG_VERIFIER], state, clock=lambda: NOW)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path / "state", make_witness(tmp_path / "state", init=True))
    yield made
    made.witness.state.close()


def assert_cosigned(response: tlog_witness.Response, note: str) -> None:
    assert response.status == 200, response.body
    text = response.body.decode()
    assert text.endswith("\n") and text.count("\n") == 1
    found = cosignature.verify_line(text[:-1], body_of(note), cosignature.parse_vkey(WITNESS_VKEY))
    assert found.timestamp == NOW


def cosigned_size(setup: Setup) -> int | None:
    latest = setup.witness.state.latest(ORIGIN)
    return None if latest is None else latest.size


# --- vkey ------------------------------------------------------------------------------


def test_vkey_prints_the_witness_key_under_its_name(tmp_path: Path) -> None:
    keyfiles.write(tmp_path / "w.pem", WITNESS_KEY)
    result = CliRunner().invoke(witness_commands, ["vkey", "--key", str(tmp_path / "w.pem"), "--name", WITNESS_NAME])
    assert result.exit_code == 0, result.output
    parsed = cosignature.parse_vkey(result.output)
    assert parsed.name == WITNESS_NAME and parsed.public_key == cosignature.public_key_of(WITNESS_KEY)
    assert result.output == WITNESS_VKEY + "\n"


# --- cosigning -------------------------------------------------------------------------


def test_a_fresh_witness_cosigns_from_zero_then_a_consistent_extension(setup: Setup) -> None:
    assert_cosigned(setup.witness.add_checkpoint(request(0, checkpoint(5))), checkpoint(5))
    assert cosigned_size(setup) == 5
    for old, new in ((5, 8), (8, 8), (8, 13), (13, 32), (32, 33)):
        assert_cosigned(setup.witness.add_checkpoint(extend(old, new)), checkpoint(new))
        assert cosigned_size(setup) == new
    latest = setup.witness.state.latest(ORIGIN)
    assert latest is not None and latest.root == ref_mth(LEAVES[:33]) and latest.checkpoint == checkpoint(33)


def test_signatures_by_unknown_keys_are_ignored(setup: Setup) -> None:
    other = Ed25519PrivateKey.generate()
    note = checkpoint(4, key=other, origin=ORIGIN)
    both = note[:-1] + "\n" + checkpoint(4).split("\n\n")[1]
    assert_cosigned(setup.witness.add_checkpoint(request(0, both)), both)


# --- refusals: status, no cosignature, state unchanged ---------------------------------

REFUSALS = {
    # name: (request against a witness at size 5, status, content type, body or None)
    "same size, another root": (request(5, checkpoint(5, FORKED)), 409, "text/plain; charset=utf-8", None),
    "old size above the checkpoint's": (request(5, checkpoint(3)), 400, "text/plain; charset=utf-8", None),
    "checkpoint below the cosigned size": (extend(2, 3), 409, SIZE_TYPE, b"5\n"),
    "wrong old size": (extend(4, 9), 409, SIZE_TYPE, b"5\n"),
    "old size 0 after cosigning": (request(0, checkpoint(9)), 409, SIZE_TYPE, b"5\n"),
    "proof that does not verify": (request(5, checkpoint(9, FORKED), ref_proof(5, FORKED[:9])), 422, None, None),
    "proof of another step": (request(5, checkpoint(9), ref_proof(4, LEAVES[:9])), 422, None, None),
    "no proof": (request(5, checkpoint(9)), 422, None, None),
    "unknown origin": (request(5, checkpoint(9, origin="other.test/log")), 404, None, None),
    "signed by another key": (request(5, checkpoint(9, key=Ed25519PrivateKey.generate())), 403, None, None),
    "no blank line": (b"old 5\n" + checkpoint(9).split("\n\n")[0].encode(), 400, None, None),
    "bad old line": (request(5, checkpoint(9)).replace(b"old 5", b"old 05"), 400, None, None),
    "proof not base64": (request(5, checkpoint(9)).replace(b"old 5\n", b"old 5\n!!!\n"), 400, None, None),
    "64 proof lines": (request(5, checkpoint(9), [bytes(32)] * 64), 400, None, None),
    "not UTF-8": (b"old 5\n\n\xff" + checkpoint(9).encode(), 400, None, None),
    "too large": (request(5, checkpoint(9)) + b"x" * tlog_witness.MAX_BODY, 400, None, None),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_leave_no_cosignature_and_the_state_unchanged(setup: Setup, case: str) -> None:
    raw, status, content_type, expected_body = REFUSALS[case]
    assert setup.witness.add_checkpoint(request(0, checkpoint(5))).status == 200
    before = setup.state_files()
    response = setup.witness.add_checkpoint(raw)
    assert response.status == status, response.body
    if content_type:
        assert response.content_type == content_type
    if expected_body is not None:
        assert response.body == expected_body
    assert "\u2014" not in response.body.decode()
    assert setup.state_files() == before and cosigned_size(setup) == 5


def test_a_forked_request_from_zero_is_refused_by_a_fresh_witness_with_a_proof(setup: Setup) -> None:
    response = setup.witness.add_checkpoint(request(0, checkpoint(5), [bytes(32)]))
    assert response.status == 422 and cosigned_size(setup) is None
    assert setup.state_files() == {"witness.json": (setup.directory / "witness.json").read_bytes()}


@pytest.mark.parametrize(
    ("case", "reason"),
    [("same size, another root", "conflicting root"), ("proof that does not verify", "consistency proof")],
)
def test_log_signed_conflicts_are_kept_as_evidence(setup: Setup, case: str, reason: str) -> None:
    raw = REFUSALS[case][0]
    setup.witness.add_checkpoint(request(0, checkpoint(5)))
    setup.witness.add_checkpoint(raw)
    setup.witness.add_checkpoint(raw)  # a retry keeps one copy
    kept = list((setup.directory / "evidence").iterdir())
    assert len(kept) == 1
    document = json.loads(kept[0].read_text())
    assert reason in document["reason"] and document["request"] == raw.decode() and document["origin"] == ORIGIN


def test_refusals_without_a_trusted_signature_keep_no_evidence(setup: Setup) -> None:
    setup.witness.add_checkpoint(request(0, checkpoint(5)))
    forged = checkpoint(5, FORKED, key=Ed25519PrivateKey.generate())
    assert setup.witness.add_checkpoint(request(5, forged)).status == 403
    assert list((setup.directory / "evidence").iterdir()) == []


# --- persistence -----------------------------------------------------------------------


def test_a_restarted_witness_keeps_refusing_rollback_and_forks(setup: Setup) -> None:
    assert setup.witness.add_checkpoint(request(0, checkpoint(9))).status == 200
    witness = setup.reopen()
    assert cosigned_size(setup) == 9
    rollback = witness.add_checkpoint(request(0, checkpoint(3)))
    assert (rollback.status, rollback.content_type, rollback.body) == (409, SIZE_TYPE, b"9\n")
    assert witness.add_checkpoint(request(9, checkpoint(9, FORKED))).status == 409
    assert_cosigned(witness.add_checkpoint(extend(9, 12)), checkpoint(12))
    assert cosigned_size(setup) == 12


def test_the_state_directory_is_never_created_or_replaced_silently(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="does not exist"):
        make_witness(tmp_path / "missing", init=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StateError, match="no witness.json"):
        make_witness(tmp_path / "empty", init=False)
    witness = make_witness(tmp_path / "state", init=True)
    with pytest.raises(StateError, match="another witness is running"):
        make_witness(tmp_path / "state", init=False)
    witness.state.close()
    with pytest.raises(StateError, match="not an empty directory"):
        make_witness(tmp_path / "state", init=True)
    other = cosignature.vkey("someone.else/w", cosignature.public_key_of(WITNESS_KEY))
    with pytest.raises(StateError, match="belongs to the witness"):
        WitnessState.open(tmp_path / "state", other, [ORIGIN])


def test_an_unreadable_state_file_stops_the_witness(setup: Setup) -> None:
    setup.witness.add_checkpoint(request(0, checkpoint(5)))
    setup.witness.state.close()
    (setup.directory / tlog_witness.state_filename(ORIGIN)).write_text("{not json")
    with pytest.raises(StateError, match="cannot read the state file"):
        make_witness(setup.directory, init=False)


# --- concurrency -----------------------------------------------------------------------


def race(witness: Witness, old: int, targets: list[int]) -> dict[int, int]:
    """Post every extension from `old` at once: {target size: status}."""
    barrier = threading.Barrier(len(targets))
    answers: dict[int, int] = {}

    def submit(new: int) -> None:
        barrier.wait(timeout=10)
        answers[new] = witness.add_checkpoint(extend(old, new)).status

    threads = [threading.Thread(target=submit, args=(new,)) for new in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return answers


def test_racing_requests_never_leave_the_state_at_the_smaller_size(setup: Setup) -> None:
    setup.witness.add_checkpoint(request(0, checkpoint(4)))
    size = 4
    for _ in range(10):
        answers = race(setup.witness, size, [size + step for step in (1, 2, 3, 4)])
        winners = [new for new, status in answers.items() if status == 200]
        assert len(winners) == 1 and sorted(answers.values()) == [200, 409, 409, 409]
        assert cosigned_size(setup) == winners[0]
        size = winners[0]
    setup.reopen()
    assert cosigned_size(setup) == size


# --- HTTP ------------------------------------------------------------------------------


@pytest.fixture
def server(setup: Setup) -> Iterator[str]:
    running = witness_server.bind(setup.witness, "127.0.0.1", 0)
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield running.url
    running.shutdown()
    running.server_close()
    thread.join(timeout=5)


def post(url: str, data: bytes, path: str = "/add-checkpoint") -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, data=data), timeout=5) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers["Content-Type"], refused.read()


def test_the_server_answers_the_protocol_and_bounds_the_body(setup: Setup, server: str) -> None:
    status, _, answer = post(server, request(0, checkpoint(6)))
    assert status == 200
    cosignature.verify_line(answer.decode().rstrip("\n"), body_of(checkpoint(6)), cosignature.parse_vkey(WITNESS_VKEY))
    assert post(server, request(0, checkpoint(6))) == (409, SIZE_TYPE, b"6\n")
    assert post(server, b"x" * (tlog_witness.MAX_BODY + 1))[0] == 413
    assert post(server, request(6, checkpoint(7)), path="/other")[0] == 404
    with urllib.request.urlopen(server + "/", timeout=5) as info:
        assert WITNESS_VKEY in info.read().decode()
    assert cosigned_size(setup) == 6


# --- end to end: `cairn witness serve` as a process ------------------------------------


def start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """`cairn witness serve` on a free port; its process and URL."""
    log_vkey = signed_note.verifier_string(ORIGIN, cosignature.public_key_of(LOG_KEY))
    command = [sys.executable, "-m", "cairn_core.client", "witness", "serve", "--key", str(tmp_path / "w.pem")]
    command += ["--log", log_vkey, "--state", str(tmp_path / "state"), "--listen", "127.0.0.1:0", *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 15)
    line = process.stdout.readline() if ready else ""
    if " listening on " not in line:
        stop(process)
        pytest.fail(f"the witness did not start: {line!r}")
    assert line.startswith(f"witness {WITNESS_VKEY} ")
    return process, line.rsplit(" ", 1)[1].strip()


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=5)


def test_cairn_witness_serve_cosigns_and_remembers_across_a_restart(tmp_path: Path) -> None:
    keyfiles.write(tmp_path / "w.pem", WITNESS_KEY)
    process, url = start(tmp_path, "--init", "--name", WITNESS_NAME)
    try:
        status, _, answer = post(url, request(0, checkpoint(7)))
        assert status == 200
        line = answer.decode().removesuffix("\n")
        cosigned = cosignature.verify_line(line, body_of(checkpoint(7)), cosignature.parse_vkey(WITNESS_VKEY))
        assert abs(cosigned.timestamp - time.time()) < 60
    finally:
        assert stop(process) == 0
    process, url = start(tmp_path)  # no --init, no --name: both from the state directory
    try:
        assert post(url, request(0, checkpoint(3))) == (409, SIZE_TYPE, b"7\n")
        assert post(url, extend(7, 10))[0] == 200
    finally:
        assert stop(process) == 0
    assert os.listdir(tmp_path / "state" / "evidence") == []


def test_no_cosignature_when_the_state_cannot_be_written(
    setup: Setup, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tlog_witness, "write_atomically", full_disk)
    status, _, answer = post(server, request(0, checkpoint(6)))
    assert status == 500 and "\u2014" not in answer.decode()
    assert cosigned_size(setup) is None
