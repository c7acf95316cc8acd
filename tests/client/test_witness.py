"""`cairn prove` as a light witness: a log that only grows passes; a forked,
rewritten or shrunk log, or a changed key, is caught (exit 1, both
checkpoints named). The logs are served by a small fake server (fake_log),
since Cairn's own never serves two inconsistent checkpoints."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cairn_core import merkle
from cairn_core.client.cli import main
from tests.client.fake_log import FakeLog, leaf, mth, path, subproof

LEAVES = [leaf(f"entry {n}".encode()) for n in range(9)]


def prove(log: FakeLog, state, index: int, *extra: str, log_key: str | None = None):
    args = ["--url", log.url, "--state", str(state), *extra, "prove", str(index)]
    args += ["--log-key", log_key] if log_key else []
    return CliRunner().invoke(main, args, env={"CAIRN_TOKEN": "", "CAIRN_CONFIG": str(state) + ".none"})


@pytest.fixture
def state(tmp_path):
    return tmp_path / "witness.json"


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


def test_a_log_that_shrank_is_caught(state):
    with FakeLog(LEAVES[:8]) as log:
        assert prove(log, state, 0).exit_code == 0
        log.leaves = LEAVES[:2] + [leaf(b"other")]
        output = forked_output(prove(log, state, 0))
        assert "size 8" in output and "size 3" in output


def test_an_older_checkpoint_of_the_same_log_is_no_fork(state):
    with FakeLog(LEAVES[:8]) as log:
        assert prove(log, state, 0).exit_code == 0
        log.checkpoint_size = 6  # a lagging checkpoint: a prefix of what was seen
        result = prove(log, state, 0, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(state.read_text())["logs"][log.verifier]["checkpoint"].split("\n")[1] == "8"


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
        result = prove(log, state, 5)
    assert result.exit_code == 1 and "not in the latest checkpoint yet" in result.output
