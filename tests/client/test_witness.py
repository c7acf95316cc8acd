"""`cairn prove` as a light witness: a log that only grows passes; a forked,
rewritten, rolled-back or shrunk log, or a changed key, is caught (exit 1,
both checkpoints named, both saved as evidence); a server that does not
answer is "could not check" (exit 4), never a fork; the entry proven can be
bound to its entry_hash, and the checkpoint to witness cosignatures (exit 3
without the quorum). The logs are served by a small fake server (fake_log),
since Cairn's own never serves two inconsistent checkpoints."""

from __future__ import annotations

import functools
import json
import socket

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import cosignature, merkle
from cairn_core.client import cli
from cairn_core.client.api import retry_after
from cairn_core.client.cli import main
from cairn_core.client.witness import Retry, Witness
from tests.client.fake_log import FakeLog, leaf, mth, path, signed_entry, subproof

LEAVES = [leaf(f"entry {n}".encode()) for n in range(9)]


def prove(log: FakeLog | str, state, index: int, *extra: str, log_key: str | None = None, token: str = ""):
    url = log if isinstance(log, str) else log.url
    options = [item for item in extra if item == "--json"]
    args = ["--url", url, "--state", str(state), *options, "prove", str(index)]
    args += [item for item in extra if item != "--json"]
    args += ["--log-key", log_key] if log_key else []
    return CliRunner().invoke(main, args, env={"CAIRN_TOKEN": token, "CAIRN_CONFIG": str(state) + ".none"})


@pytest.fixture
def state(tmp_path):
    return tmp_path / "witness.json"


@pytest.fixture
def sleeps(monkeypatch):
    """The waits `cairn prove` asked for between tries; none is slept."""
    waited: list[float] = []
    monkeypatch.setattr(cli, "Witness", functools.partial(Witness, retry=Retry(sleep=waited.append)))
    return waited


def error_of(result) -> dict:
    """The JSON error of a `--json` run."""
    return json.loads(result.stdout)["error"]


def evidence_files(state) -> list:
    folder = state.parent / "evidence"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_the_reference_proofs_verify_with_the_core():
    """The fake log's proofs are right: the core's verifiers accept them."""
    for size in range(1, 9):
        for index in range(size):
            assert merkle.verify_inclusion(index, size, LEAVES[index], path(index, LEAVES[:size]), mth(LEAVES[:size]))
        for first in range(1, size):
            proof = subproof(first, LEAVES[:size], True)
            assert merkle.verify_consistency(first, size, mth(LEAVES[:first]), mth(LEAVES[:size]), proof)


def test_a_growing_log_is_proven_and_its_latest_checkpoint_kept(state):
    with FakeLog(LEAVES[:5]) as log:
        first = prove(log, state, 3)
        assert first.exit_code == 0, first.output
        assert "entry 3 is in the log fake.example/log" in first.output
        assert "size 5" in first.output and "first checkpoint of this log seen here" in first.output
        log.leaves = LEAVES[:8]
        second = prove(log, state, 3, "--json")
        assert second.exit_code == 0, second.output
        body = json.loads(second.output)
        assert body["checkpoint"]["tree_size"] == 8 and body["previous"]["tree_size"] == 5
        assert body["proof"].startswith("c2sp.org/tlog-proof@v1\nindex 3\n")
        kept = json.loads(state.read_text())
        assert kept["pins"] == {log.url: log.verifier}
        assert kept["logs"][log.verifier]["checkpoint"] == log.checkpoint()


def forked_output(result) -> str:
    assert result.exit_code == 1, result.output
    assert "the log was rewritten or forked" in result.output
    return result.output


def test_a_forked_log_is_caught_and_both_checkpoints_named(state):
    with FakeLog(LEAVES[:5]) as log:
        assert prove(log, state, 1).exit_code == 0
        kept_root = json.loads(prove(log, state, 1, "--json").output)["checkpoint"]["root_hash"]
        # the same first two entries, then another history from index 2, and more
        log.leaves = LEAVES[:2] + [leaf(f"forged {n}".encode()) for n in range(5)]
        result = prove(log, state, 1)
        output = forked_output(result)
        assert "the consistency proof between them does not verify" in output
        assert f"checkpoint seen before: fake.example/log size 5 root {kept_root}" in output
        assert "checkpoint served now:  fake.example/log size 7 root" in output
        # the forked checkpoint is not kept: the next call catches it again
        assert forked_output(prove(log, state, 1))


def test_two_checkpoints_of_one_size_with_different_roots_are_a_fork(state):
    with FakeLog(LEAVES[:4]) as log:
        assert prove(log, state, 0).exit_code == 0
        log.leaves = LEAVES[:3] + [leaf(b"rewritten")]
        assert "same size have different roots" in forked_output(prove(log, state, 0))


def test_a_changed_log_key_is_refused(state):
    with FakeLog(LEAVES[:3]) as log:
        assert prove(log, state, 0).exit_code == 0
        with FakeLog(LEAVES[:3]) as impostor:
            # a second log with another key, at an address pinned to the first key
            state_data = json.loads(state.read_text())
            state_data["pins"][impostor.url] = log.verifier
            state.write_text(json.dumps(state_data))
            result = prove(impostor, state, 0)
    assert result.exit_code == 1
    assert "the log's key changed" in result.output


def test_a_checkpoint_not_signed_by_the_given_key_is_refused(state):
    with FakeLog(LEAVES[:3]) as log, FakeLog(LEAVES[:3]) as other:
        result = prove(log, state, 0, log_key=other.verifier)
    assert result.exit_code == 1 and "does not verify under the log key" in result.output


def test_an_entry_beyond_the_checkpoint_is_not_covered_yet(state):
    with FakeLog(LEAVES[:3]) as log:
        result = prove(log, state, 5, "--json")
    assert result.exit_code == 4 and "not in the latest checkpoint yet" in result.output
    assert error_of(result)["code"] == "not_covered"


# --- evidence: forks and rollbacks ----------------------------------------------------


def test_a_fork_is_saved_as_evidence_with_both_checkpoints_and_the_proof(state):
    with FakeLog(LEAVES[:5]) as log:
        assert prove(log, state, 1).exit_code == 0
        kept_note = log.checkpoint()
        log.leaves = LEAVES[:2] + [leaf(f"forged {n}".encode()) for n in range(5)]
        result = prove(log, state, 1, "--json")
        served_note = log.checkpoint()
    assert result.exit_code == 1
    error = error_of(result)
    assert error["code"] == "log_forked"
    [evidence] = evidence_files(state)
    assert (
        error["evidence"] == str(evidence)
        and f"evidence (both signed checkpoints and the proof) saved in {evidence}" in result.output
    )
    saved = json.loads(evidence.read_text())
    assert saved["code"] == "log_forked" and saved["url"] == log.url and saved["log_key"] == log.verifier
    assert saved["kept"]["checkpoint"] == kept_note and saved["kept"]["tree_size"] == 5
    assert saved["served"]["checkpoint"] == served_note and saved["served"]["tree_size"] == 7
    assert saved["proof"]["request"] == "GET /log/proof/consistency?first=5&second=7"
    assert saved["proof"]["answer"]["hashes"] == [item.hex() for item in subproof(5, log.leaves[:7], True)]
    assert not list(state.parent.glob("evidence/*.tmp"))


def test_an_older_checkpoint_is_a_rollback_naming_both(state):
    with FakeLog(LEAVES[:8]) as log:
        assert prove(log, state, 0).exit_code == 0
        kept_note = log.checkpoint()
        log.checkpoint_size = 6  # a checkpoint older than one the log signed before
        result = prove(log, state, 0, "--json")
        served_note = log.checkpoint()
    assert result.exit_code == 1
    assert error_of(result)["code"] == "log_rolled_back"
    assert (
        "the log was rolled back: the log served a checkpoint of size 6, older than the one of size 8" in result.output
    )
    assert f"checkpoint seen before: fake.example/log size 8 root {error_root(kept_note)}" in result.output
    assert f"checkpoint served now:  fake.example/log size 6 root {error_root(served_note)}" in result.output
    [evidence] = evidence_files(state)
    saved = json.loads(evidence.read_text())
    assert (saved["kept"]["checkpoint"], saved["served"]["checkpoint"]) == (kept_note, served_note)
    assert saved["proof"] is None
    # the older checkpoint was not kept
    assert json.loads(state.read_text())["logs"][log.verifier]["checkpoint"] == kept_note


def error_root(note: str) -> str:
    return note.split("\n")[2]


def test_a_log_that_lost_the_newest_entry_proven_is_a_rollback(state):
    with FakeLog(LEAVES[:8]) as log:
        assert prove(log, state, 6).exit_code == 0
        log.leaves = LEAVES[:5] + [leaf(b"other")]  # six entries: entry 6 is gone
        result = prove(log, state, 2, "--json")
    assert result.exit_code == 1 and error_of(result)["code"] == "log_rolled_back"
    assert (
        f"the log lost entry 6 (leaf hash {LEAVES[6].hex()}), proven here before: it now has 6 entries" in result.output
    )
    assert "size 8" in result.output and "size 6" in result.output
    assert len(evidence_files(state)) == 1


def test_a_newest_entry_with_another_leaf_hash_is_a_rewrite(state):
    with FakeLog(LEAVES[:6]) as log:
        assert prove(log, state, 4).exit_code == 0
        record = json.loads(state.read_text())
        assert record["logs"][log.verifier]["newest_entry"] == {
            "index": 4,
            "leaf_hash": LEAVES[4].hex(),
            "entry_hash": None,
        }
        # what this supplier proved at index 4 before is not what the log holds there
        record["logs"][log.verifier]["newest_entry"]["leaf_hash"] = leaf(b"what was posted").hex()
        state.write_text(json.dumps(record))
        log.leaves = LEAVES[:7]
        result = prove(log, state, 1, "--json")
    assert result.exit_code == 1 and error_of(result)["code"] == "log_rolled_back"
    assert f"entry 4 now has another leaf hash than {leaf(b'what was posted').hex()}" in result.output
    [evidence] = evidence_files(state)
    saved = json.loads(evidence.read_text())
    assert saved["proof"]["request"] == "GET /log/proof/inclusion?index=4&tree_size=7"
    assert saved["proof"]["answer"]["leaf_hash"] == LEAVES[4].hex()


def test_a_server_that_cannot_prove_a_checkpoint_it_signed_is_a_fork(state, sleeps):
    with FakeLog(LEAVES[:5]) as log:
        assert prove(log, state, 1).exit_code == 0
        log.leaves = LEAVES[:8]
        log.checkpoint_size = 9  # signs a size it does not have: 400 on the consistency proof
        result = prove(log, state, 1, "--json")
    assert result.exit_code == 1 and error_of(result)["code"] == "log_forked"
    assert "the server cannot prove the two consistent (bad_request (HTTP 400)" in result.output
    assert sleeps == []  # a 400 is an answer: not asked again
    saved = json.loads(evidence_files(state)[0].read_text())
    assert saved["proof"]["answer"]["status"] == 400


# --- could not check --------------------------------------------------------------------


def test_a_503_on_the_consistency_proof_is_could_not_check_never_a_fork(state, sleeps):
    with FakeLog(LEAVES[:5]) as log:
        assert prove(log, state, 1).exit_code == 0
        kept = state.read_text()
        log.leaves = LEAVES[:8]
        log.fail("log/proof/consistency", 503, retry_after="0.05", times=3)
        result = prove(log, state, 1, "--json")
        asked = log.count("log/proof/consistency")
    assert result.exit_code == 4
    error = error_of(result)
    assert error["code"] == "could_not_check" and "log_forked" not in result.output
    assert "GET /log/proof/consistency?first=5&second=8 failed 3 time(s)" in error["message"]
    assert "unavailable (HTTP 503)" in error["message"]
    assert asked == 3 and sleeps == [0.05, 0.05]
    assert evidence_files(state) == [] and state.read_text() == kept


def test_retry_after_is_honoured_and_the_retry_then_proves(state, sleeps):
    with FakeLog(LEAVES[:5]) as log:
        assert prove(log, state, 1).exit_code == 0
        log.leaves = LEAVES[:8]
        log.fail("log/proof/consistency", 429, retry_after="2")
        log.fail("log/checkpoint", 503)  # no Retry-After: 1 s
        result = prove(log, state, 1, "--json")
    assert result.exit_code == 0, result.output
    assert sleeps == [1.0, 2.0]
    assert json.loads(result.stdout)["previous"]["tree_size"] == 5


def test_a_retry_after_beyond_the_budget_is_not_waited(state, sleeps):
    with FakeLog(LEAVES[:5]) as log:
        assert prove(log, state, 1).exit_code == 0
        log.leaves = LEAVES[:8]
        log.fail("log/proof/consistency", 429, retry_after="3600")
        result = prove(log, state, 1, "--json")
        asked = log.count("log/proof/consistency")
    assert result.exit_code == 4 and error_of(result)["code"] == "could_not_check"
    assert asked == 1 and sleeps == []


def test_the_waits_together_stay_within_the_budget(state, sleeps):
    with FakeLog(LEAVES[:3]) as log:
        log.fail("log/checkpoint", 503, retry_after="20", times=3)
        result = prove(log, state, 1, "--json")
    assert result.exit_code == 4 and error_of(result)["code"] == "could_not_check"
    assert sleeps == [20.0]  # a second wait of 20 s would pass the 30 s budget


def test_a_server_that_does_not_answer_is_could_not_check(state, sleeps):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = prove(url, state, 0, "--json")
    assert result.exit_code == 4 and error_of(result)["code"] == "could_not_check"
    assert "GET /log/key failed 3 time(s)" in result.output and "unreachable" in result.output
    assert sleeps == [1.0, 1.0]


# --- binding to what was posted ----------------------------------------------------------


@pytest.fixture
def entries_log():
    """A log whose entries are real envelopes, served to a token holder."""
    key = Ed25519PrivateKey.generate()
    entries = [signed_entry(n, key) for n in range(5)]
    with FakeLog([bytes.fromhex(entry["leaf_hash"]) for entry in entries]) as log:
        log.entries = dict(enumerate(entries))
        yield log


def test_the_entry_hash_given_is_the_entry_proven(state, entries_log):
    wanted = entries_log.entries[3]
    result = prove(entries_log, state, 3, "--json", "--entry-hash", wanted["entry_hash"], token="t")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["entry_hash"] == wanted["entry_hash"] and body["leaf_hash"] == wanted["leaf_hash"]
    newest = json.loads(state.read_text())["logs"][entries_log.verifier]["newest_entry"]
    assert newest == {"index": 3, "leaf_hash": wanted["leaf_hash"], "entry_hash": wanted["entry_hash"]}


def test_the_envelope_given_binds_the_proof_to_its_entry_hash(state, entries_log, tmp_path):
    envelope = tmp_path / "posted.json"
    envelope.write_text(json.dumps(entries_log.entries[2]["envelope"]))
    result = prove(entries_log, state, 2, "--envelope", str(envelope), token="t")
    assert result.exit_code == 0, result.output
    assert f"the entry at index 2 is the one with entry_hash {entries_log.entries[2]['entry_hash']}" in result.output
    other = prove(entries_log, state, 1, "--json", "--envelope", str(envelope), token="t")
    assert other.exit_code == 1 and error_of(other)["code"] == "entry_mismatch"


def test_another_entry_at_the_index_is_refused(state, entries_log):
    posted = entries_log.entries[3]["entry_hash"]
    result = prove(entries_log, state, 1, "--json", "--entry-hash", posted, token="t")
    assert result.exit_code == 1
    error = error_of(result)
    assert error["code"] == "entry_mismatch"
    assert (
        f"the entry at index 1 has entry_hash {entries_log.entries[1]['entry_hash']}, not {posted}" in error["message"]
    )
    assert "newest_entry" not in json.loads(state.read_text())["logs"][entries_log.verifier]


def test_a_server_that_names_another_index_cannot_pass(state, entries_log):
    posted = entries_log.entries[3]
    # the supplier asks for index 1 with its hash; the server serves its entry, naming another index
    entries_log.entries[1] = posted
    named = prove(entries_log, state, 1, "--json", "--entry-hash", posted["entry_hash"], token="t")
    assert named.exit_code == 1 and "asked for entry 1, the server served entry 3" in named.output
    # or claims it is at index 1: its leaf is not the one the log holds there
    entries_log.entries[1] = {**posted, "index": 1}
    claimed = prove(entries_log, state, 1, "--json", "--entry-hash", posted["entry_hash"], token="t")
    assert claimed.exit_code == 1 and error_of(claimed)["code"] == "witness"
    assert "the server's leaf hash for entry 1 is not the hash of the entry it serves" in claimed.output


def test_an_entry_hash_needs_a_token_and_hex(state, entries_log):
    without = prove(entries_log, state, 1, "--json", "--entry-hash", "ab" * 32)
    assert without.exit_code == 2 and error_of(without)["code"] == "bad_argument"
    assert prove(entries_log, state, 1, "--entry-hash", "not-hex", token="t").exit_code == 2


# --- witness cosignatures ----------------------------------------------------------------


def test_the_witness_quorum_is_required_and_cosignatures_travel_beside_the_note(state):
    with FakeLog(LEAVES[:4]) as log:
        first, second = log.add_cosigner("w1.example"), log.add_cosigner("w2.example")
        result = prove(log, state, 2, "--json", "--witness", first, "--witness", second)
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        note = log.note()
        assert body["witnessed_by"] == sorted([first, second])
        assert body["cosignatures"] == log.checkpoint()[len(note) :].splitlines()
        assert len(body["cosignatures"]) == 2
        assert body["proof"].endswith("\n\n" + note)  # the log-signed note alone
        record = json.loads(state.read_text())["logs"][log.verifier]
        assert record["checkpoint"] == note and record["cosignatures"] == body["cosignatures"]


def test_missing_witnesses_are_named(state):
    with FakeLog(LEAVES[:4]) as log:
        present = log.add_cosigner("w1.example")
        absent_key = Ed25519PrivateKey.generate()
        absent = cosignature.vkey("w2.example", cosignature.public_key_of(absent_key))
        result = prove(log, state, 2, "--json", "--witness", present, "--witness", absent)
        assert result.exit_code == 3
        error = error_of(result)
        assert error["code"] == "witnesses_missing"
        assert "carries 1 valid cosignature(s) of the 2 required; not cosigned by: " + absent in error["message"]
        assert present not in error["message"].split("not cosigned by:")[1]
        one_of_two = prove(log, state, 2, "--witness", present, "--witness", absent, "--witnesses-required", "1")
        assert one_of_two.exit_code == 0, one_of_two.output
        assert f"cosigned by witness {present}" in one_of_two.output


def test_bad_witness_arguments_are_refused(state):
    with FakeLog(LEAVES[:4]) as log:
        vkey = log.add_cosigner("w1.example")
        assert prove(log, state, 1, "--witness", "nonsense").exit_code == 2
        too_many = prove(log, state, 1, "--json", "--witness", vkey, "--witnesses-required", "2")
        assert too_many.exit_code == 2 and error_of(too_many)["code"] == "bad_argument"


def test_retry_after_reads_seconds_and_http_dates():
    def answer(value: str) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": value})

    assert retry_after(answer("7")) == 7.0 and retry_after(answer("-3")) == 0.0
    assert retry_after(answer("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # in the past
    assert retry_after(answer("soon")) is None and retry_after(httpx.Response(503)) is None
