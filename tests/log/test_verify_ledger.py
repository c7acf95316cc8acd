"""verify_ledger and the tamper drills: each change is found and named by index."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from provenance import checkpoints
from provenance.models import BatchLink, Entry
from tests.log.conftest import tamper

pytestmark = pytest.mark.django_db

ZERO = "0" * 64


def verify(*args: str) -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_ledger", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue().splitlines()


def change_envelope_byte(index: int) -> None:
    tamper(
        'UPDATE provenance_entry SET envelope = replace(envelope, \'"payloadType":"application\','
        ' \'"payloadType":"Application\') WHERE "index" = %s',
        [index],
    )


def change_leaf_hash(index: int) -> None:
    tamper('UPDATE provenance_entry SET leaf_hash = %s WHERE "index" = %s', [ZERO, index])


def change_prev_link(index: int) -> None:
    tamper("UPDATE provenance_batchlink SET prev = %s WHERE entry_id = %s", [ZERO, index])


def delete_entry(index: int) -> None:
    for table in ("provenance_entrysignature", "provenance_batchlink"):
        tamper(f"DELETE FROM {table} WHERE entry_id = %s", [index])
    tamper('DELETE FROM provenance_entry WHERE "index" = %s', [index])


def test_an_intact_ledger_exits_0_and_prints_nothing(chain):
    checkpoints.publish_checkpoint()
    assert verify() == (0, [])
    assert verify("--since", "4") == (0, [])


def test_a_changed_envelope_byte_is_found(chain):
    checkpoints.publish_checkpoint()
    change_envelope_byte(2)
    code, lines = verify()
    assert code == 1
    assert lines == [
        "index 2: stored leaf_hash is not the hash of the entry's leaf input; "
        "entry_hash is not the SHA-256 of the envelope's PAE; "
        f"signature by key {Entry.objects.get(index=2).signature_records.get().key_id} "
        "does not verify; no valid signature by a key of the issuer; "
        "the tree rebuilt from the entries does not have checkpoint 7's signed root"
    ]


def test_a_changed_leaf_hash_is_found(chain):
    checkpoints.publish_checkpoint()
    change_leaf_hash(4)
    assert verify() == (1, ["index 4: stored leaf_hash is not the hash of the entry's leaf input"])


def test_a_changed_prev_link_is_found(chain):
    head = Entry.objects.get(index=2).entry_hash
    batch = BatchLink.objects.get(entry_id=3).batch_id
    change_prev_link(3)
    assert verify() == (
        1,
        [f"index 3: batch {batch}: stored link prev {ZERO} is not the previous entry touching the batch {head}"],
    )


def test_a_deleted_row_is_found(chain):
    checkpoints.publish_checkpoint()
    deleted, before = Entry.objects.get(index=3).entry_hash, Entry.objects.get(index=2).entry_hash
    delete_entry(3)
    batch = chain["hydroxide"]
    assert verify() == (
        1,
        [
            "index 3: entry missing: no row at this index",
            f"index 4: batch {batch}: signed prev {deleted} is not the batch's previous entry "
            f"{before}; batch {batch}: issuer detroit-cells is not the custodian kansai-refining; "
            f"batch {batch}: stored link prev {deleted} is not the previous entry touching the "
            f"batch {before}; batch {batch}: stored link role, quantity or custody differ from "
            "the signed statement",
        ],
    )


def test_since_checks_only_later_entries(chain):
    change_leaf_hash(1)
    change_leaf_hash(5)
    assert verify("--since", "3") == (
        1,
        ["index 5: stored leaf_hash is not the hash of the entry's leaf input"],
    )
