"""verify_ledger and the tamper drills: each change is found and named by index."""

from __future__ import annotations

import pytest

from provenance import checkpoints
from provenance.models import BatchLink, Entry
from tests.support import (
    ZERO,
    attestation,
    change_envelope_byte,
    change_leaf_hash,
    change_prev_link,
    delete_entry,
    tamper,
    verify,
)

pytestmark = pytest.mark.django_db


def test_an_intact_ledger_exits_0_and_prints_nothing(chain):
    checkpoints.publish_checkpoint()
    assert verify() == (0, [])
    assert verify("--since", str(attestation(4))) == (0, [])


def test_a_changed_envelope_byte_is_found(chain):
    checkpoint = checkpoints.publish_checkpoint()
    index = attestation(2)
    change_envelope_byte(index)
    code, lines = verify()
    assert code == 1
    assert lines == [
        f"index {index}: stored leaf_hash is not the hash of the entry's leaf input; "
        "entry_hash is not the SHA-256 of the envelope's PAE; "
        f"signature by key {Entry.objects.get(index=index).signature_records.get().key_id} "
        "does not verify; no valid signature by a key of the issuer; "
        f"the tree rebuilt from the entries does not have checkpoint {checkpoint.tree_size}'s signed root"
    ]


def test_a_changed_leaf_hash_is_found(chain):
    checkpoints.publish_checkpoint()
    index = attestation(4)
    change_leaf_hash(index)
    assert verify() == (1, [f"index {index}: stored leaf_hash is not the hash of the entry's leaf input"])


def test_a_changed_prev_link_is_found(chain):
    index = attestation(3)
    head = Entry.objects.get(index=attestation(2)).entry_hash
    batch = BatchLink.objects.get(entry_id=index).batch_id
    change_prev_link(index)
    assert verify() == (
        1,
        [f"index {index}: batch {batch}: stored link prev {ZERO} is not the previous entry touching the batch {head}"],
    )


def test_a_deleted_row_is_found(chain):
    checkpoints.publish_checkpoint()
    index = attestation(3)
    deleted, before = Entry.objects.get(index=index).entry_hash, Entry.objects.get(index=attestation(2)).entry_hash
    delete_entry(index)
    batch = chain["hydroxide"]
    assert verify() == (
        1,
        [
            f"index {index}: entry missing: no row at this index",
            f"index {index + 1}: batch {batch}: signed prev {deleted} is not the batch's previous entry "
            f"{before}; batch {batch}: issuer detroit-cells is not the custodian kansai-refining; "
            f"batch {batch}: stored link prev {deleted} is not the previous entry touching the "
            f"batch {before}; batch {batch}: stored link role, quantity or custody differ from "
            f"the signed statement; batch {batch}: the stored row says custodian detroit-cells; "
            "the signed entries say kansai-refining",
        ],
    )


# --- the mutable state (Batch, Claim, Entry columns) rebuilt from the entries ----


def change_batch(batch_id: str, column: str, value) -> None:
    tamper(f"UPDATE provenance_batch SET {column} = %s WHERE id = %s", [value, batch_id])


@pytest.mark.parametrize(
    ("column", "value", "named", "index_of"),
    [
        ("quantity", "5000", "quantity 5000", "created"),
        ("consumed", "0", "consumed 0", "last"),
        ("custodian_id", "pilbara-mining", "custodian pilbara-mining", "last"),
        ("head", "0" * 64, f"head {'0' * 64}", "last"),
        ("material", "gold", "material gold", "created"),
        ("unit", "unit", "unit unit", "created"),
        ("value_added_usd", "1", "value_added_usd 1", "created"),
        ("site_country", "CN", "site_country CN", "created"),
        ("owner_id", "detroit-cells", "owner detroit-cells", "created"),
    ],
)
def test_a_changed_batch_column_is_found(chain, column, value, named, index_of):
    checkpoints.publish_checkpoint()
    batch = chain["hydroxide"]
    created = BatchLink.objects.get(batch_id=batch, role="created").entry_id
    last = BatchLink.objects.filter(batch_id=batch).order_by("-entry_id").first().entry_id
    change_batch(batch, column, value)
    code, lines = verify()
    index = created if index_of == "created" else last
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(f"index {index}: batch {batch}: the stored row says {named}; ")


def test_changed_minerals_or_carries_are_found(chain):
    ore, cells = chain["ore"], chain["cells"]
    tamper("UPDATE provenance_batch SET minerals = %s WHERE id = %s", ['{"lithium": "600"}', ore])
    tamper("UPDATE provenance_batch SET carries = %s WHERE id = %s", ['["lithium", "cobalt"]', cells])
    code, lines = verify()
    assert code == 1
    assert any(f"batch {ore}: the stored row says minerals" in line for line in lines)
    assert any(f"batch {cells}: the stored row says carries" in line for line in lines)


def test_a_batch_row_no_entry_created_is_found(chain):
    tamper(
        "INSERT INTO provenance_batch (id, owner_id, material, unit, quantity, consumed, custodian_id, head,"
        " created_by_id, site_country, minerals, carries, value_added_usd, component)"
        " VALUES ('pilbara-mining:ghost', 'pilbara-mining', 'ore', 'kg', 9, 0, 'pilbara-mining', %s, 0, 'AU',"
        " '{}', '[]', 0, '')",
        [ZERO],
    )
    assert verify() == (1, ["index 0: batch pilbara-mining:ghost: a Batch row that no entry created"])


def test_changed_entry_times_are_found(chain):
    first, second = attestation(2), attestation(5)
    tamper('UPDATE provenance_entry SET issued_at = %s WHERE "index" = %s', ["2001-01-01T00:00:00Z", first])
    tamper('UPDATE provenance_entry SET occurred_at = %s WHERE "index" = %s', ["2001-01-01T00:00:00Z", second])
    code, lines = verify()
    assert code == 1
    assert lines == [
        f"index {first}: stored issued_at or occurred_at differ from the signed payload",
        f"index {second}: stored issued_at or occurred_at differ from the signed payload",
    ]


def test_a_changed_claim_row_is_found(chain):
    claim = Entry.objects.get(type="claim")
    tamper("UPDATE provenance_claim SET acquired = %s WHERE entry_id = %s", ["2022-01-01", claim.index])
    assert verify() == (
        1,
        [f"index {claim.index}: claim 1HGCM82633A004352: the stored Claim row differs from the signed claim"],
    )


def test_incremental_checks_compare_the_batches_their_entries_touch(chain, ledger, refiner):
    """A batch moved after --since: its state is compared when its latest entry is in range."""
    size = Entry.objects.count()
    extra = ledger.origin(refiner, quantity="10")
    change_batch(extra, "custodian_id", "pilbara-mining")
    code, lines = verify("--since", str(size))
    assert code == 1
    assert lines == [
        f"index {size}: batch {extra}: the stored row says custodian pilbara-mining; "
        "the signed entries say kansai-refining"
    ]


def test_since_checks_only_later_entries(chain):
    change_leaf_hash(attestation(1))
    change_leaf_hash(attestation(5))
    assert verify("--since", str(attestation(3))) == (
        1,
        [f"index {attestation(5)}: stored leaf_hash is not the hash of the entry's leaf input"],
    )
