"""Signed checkpoints and the ledger key."""

from __future__ import annotations

import base64
import hashlib
import io
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from cairn_core import dsse, merkle, signed_note
from provenance import checkpoints, ledger_key, tlog
from provenance.models import Checkpoint, LogState, MerkleNode
from tests.support import REFERENCE_ROOTS, append_bare_leaves, tamper

pytestmark = pytest.mark.django_db


def ledger_verifier() -> signed_note.Verifier:
    return signed_note.parse_verifier(ledger_key.current().verifier)


def test_an_empty_log_is_signed_as_the_tree_of_size_0():
    """Contract §7: size 0, root SHA-256 of nothing, like every transparency log at its start."""
    checkpoint = checkpoints.publish_checkpoint()
    assert (checkpoint.tree_size, checkpoint.root_hash) == (0, hashlib.sha256(b"").hexdigest())
    opened = signed_note.open_checkpoint(checkpoint.note, ledger_verifier())
    assert opened == signed_note.Checkpoint("cairn.test/ledger", 0, hashlib.sha256(b"").digest())
    assert checkpoints.publish_checkpoint() == checkpoint
    append_bare_leaves(3)
    grown = checkpoints.publish_checkpoint()
    assert [c.tree_size for c in Checkpoint.objects.all()] == [0, 3]
    assert checkpoints.verify_note(grown) is None


def test_a_checkpoint_signs_the_current_tree():
    append_bare_leaves(13)
    checkpoint = checkpoints.publish_checkpoint()
    assert (checkpoint.tree_size, checkpoint.root_hash) == (13, REFERENCE_ROOTS[13].hex())
    root = base64.b64encode(REFERENCE_ROOTS[13]).decode()
    assert checkpoint.note.startswith(f"cairn.test/ledger\n13\n{root}\n\n\u2014 cairn.test/ledger ")
    opened = signed_note.open_checkpoint(checkpoint.note, ledger_verifier())
    assert opened == signed_note.Checkpoint("cairn.test/ledger", 13, REFERENCE_ROOTS[13])


def test_publishing_is_idempotent_until_the_tree_grows():
    append_bare_leaves(5)
    first = checkpoints.publish_checkpoint()
    assert checkpoints.publish_checkpoint() == first
    append_bare_leaves(3)
    second = checkpoints.publish_checkpoint()
    assert [c.tree_size for c in Checkpoint.objects.all()] == [5, 8]
    assert second.root_hash == REFERENCE_ROOTS[8].hex()
    assert checkpoints.verify_note(first) is None and checkpoints.verify_note(second) is None


def test_a_tree_rewritten_below_the_last_checkpoint_is_not_signed():
    append_bare_leaves(6)
    checkpoints.publish_checkpoint()
    append_bare_leaves(2)
    # Rewrite the subtree over entries 0..3 that checkpoint 6 covers.
    tamper(
        "UPDATE provenance_merklenode SET hash = %s WHERE id = %s",
        ["ab" * 32, MerkleNode.node_id(2, 0)],
    )
    with pytest.raises(checkpoints.CheckpointRefused):
        checkpoints.publish_checkpoint()
    assert list(Checkpoint.objects.values_list("tree_size", flat=True)) == [6]


def test_publish_checkpoint_command_prints_the_note():
    out = io.StringIO()
    call_command("publish_checkpoint", stdout=out)
    empty = base64.b64encode(hashlib.sha256(b"").digest()).decode()
    assert out.getvalue().startswith(f"cairn.test/ledger\n0\n{empty}\n\n")
    append_bare_leaves(3)
    out = io.StringIO()
    call_command("publish_checkpoint", stdout=out)
    assert out.getvalue() == Checkpoint.objects.get(tree_size=3).note


def test_the_consistency_proof_between_checkpoints_verifies():
    append_bare_leaves(21)
    old = checkpoints.publish_checkpoint()
    append_bare_leaves(30)
    new = checkpoints.publish_checkpoint()
    proof = tlog.consistency_proof(old.tree_size, new.tree_size)
    assert merkle.verify_consistency(21, 51, bytes.fromhex(old.root_hash), bytes.fromhex(new.root_hash), proof)
    assert LogState.load().size == 51


# --- the ledger key -------------------------------------------------------------


def test_the_development_key_is_created_once_with_mode_0600(ledger_key_dir):
    key = ledger_key.current()
    path = ledger_key_dir / ledger_key.DEV_KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ledger_key._load.cache_clear()
    assert ledger_key.current().public_key == key.public_key
    assert key.keyid == dsse.keyid_for(key.public_key)


def test_a_configured_pem_key_is_used(settings, tmp_path):
    private_key = Ed25519PrivateKey.generate()
    path = tmp_path / "ledger.pem"
    path.write_bytes(private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    settings.LEDGER_SIGNING_KEY = str(path)
    assert ledger_key.current().public_key == dsse.raw_public_key(private_key)


def test_the_development_key_never_goes_inside_the_repository(settings):
    settings.CAIRN_DEV_KEY_DIR = settings.BASE_DIR / "var" / "keys"
    with pytest.raises(ImproperlyConfigured):
        ledger_key.current()


def test_sign_envelope_gives_a_dsse_envelope_by_the_ledger_key():
    envelope = ledger_key.sign_envelope("application/vnd.cairn.verification+json", b'{"ok":true}')
    key = ledger_key.current()
    parsed = dsse.envelope_from_dict(envelope)
    assert envelope["payload"] == "eyJvayI6dHJ1ZX0="
    assert [s.keyid for s in parsed.signatures] == [key.keyid]
    assert dsse.verify_signature(key.public_key, parsed.pae, parsed.signatures[0].sig)


def test_inclusion_in_the_latest_checkpoint():
    append_bare_leaves(5)
    assert checkpoints.inclusion_in_latest(0) is None
    checkpoint = checkpoints.publish_checkpoint()
    append_bare_leaves(1)
    assert checkpoints.inclusion_in_latest(5) is None
    answer = checkpoints.inclusion_in_latest(3)
    assert answer["checkpoint"] == checkpoint.note
    proof = answer["inclusion_proof"]
    assert (proof["index"], proof["tree_size"]) == (3, 5)
    assert merkle.verify_inclusion(
        3,
        5,
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["hashes"]],
        bytes.fromhex(checkpoint.root_hash),
    )
