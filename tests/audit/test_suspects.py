"""One incident per suspect row, naming the changed row, with what rests on it."""

from __future__ import annotations

import pytest
from django.db import connection

from audit import checks, incidents
from audit.models import IntegrityIncident
from audit.suspects import group
from cairn_core.problems import Code, Problem
from provenance import checkpoints
from provenance.models import Batch, Entry
from tests.support import claim, raise_value, simple_chain, tamper_envelope

VIN, OTHER = "5YJ3E1EA0PF000002", "5YJ3E1EA0PF000003"


def test_an_altered_entry_explains_its_derived_rows_and_the_next_chain():
    findings = group(
        [
            Problem(120, Code.LEAF_HASH, "stored leaf_hash is not the hash of the entry's leaf input"),
            Problem(120, Code.BAD_SIGNATURE, "signature by key k does not verify"),
            Problem(
                120, Code.INCLUSION, "the tree rebuilt from the entries does not have checkpoint 130's signed root"
            ),
            Problem(120, Code.BATCH_STATE, "batch m:b1: the stored row says quantity 240; the signed entries say 940"),
            Problem(121, Code.CHAIN, "batch m:b1: signed prev aa is not the batch's previous entry bb"),
            Problem(7, Code.BATCH_STATE, "batch m:b0: the stored row says quantity 5; the signed entries say 4"),
        ],
        {120: [121]},
    )
    assert [(finding.suspect, finding.index) for finding in findings] == [("batch m:b0", 7), ("entry #120", 120)]
    assert findings[1].summary(["Y", "X"]) == (
        "entry #120 altered after logging: its stored bytes and leaf hash disagree, signature fails, "
        "no longer in the checkpoint; consequences: #121's chain, claims X and Y"
    )
    assert findings[0].summary([]) == "batch m:b0 altered: the stored row says quantity 5; the signed entries say 4"


def test_problems_that_name_no_row_stay_one_incident_each():
    findings = group([Problem(0, Code.SCHEDULE, "periodic task 'x' is missing"), Problem(0, Code.SCHEDULE, "y")])
    assert [finding.summary() for finding in findings] == ["periodic task 'x' is missing", "y"]


@pytest.fixture
def two_claims(ledger, miner, refiner, maker):
    """Two vehicles built from the same ore."""
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    second = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, second, OTHER)
    checkpoints.publish_checkpoint()
    return pack


def test_a_changed_entry_is_one_incident_naming_it_and_the_claims_resting_on_it(two_claims):
    origin = Entry.objects.filter(type="origin").order_by("index").first().index
    tamper_envelope(origin, raise_value)
    checks.run_incremental()
    found = IntegrityIncident.objects.filter(suspect=f"entry #{origin}")
    (incident,) = found
    assert incident.consequences["claims"] == [VIN]
    assert incident.message.startswith(f"entry #{origin} altered after logging: ")
    assert incident.message.endswith(f"consequences: #{origin + 1}'s chain, claim {VIN}")
    # The Batch row the entry created still holds what was signed: not a suspect of its own.
    assert not IntegrityIncident.objects.filter(suspect__startswith="batch ").exists()
    assert {item["code"] for item in incident.problems} >= {"leaf_hash", "bad_signature"}


def test_a_changed_batch_row_is_the_suspect(two_claims):
    ore = Batch.objects.filter(created_by__type="origin").order_by("created_by").first()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE provenance_batch SET quantity = 940 WHERE id = %s", [ore.id])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")
    incidents.record_problems(checks.integrity.check_range(0, Entry.objects.count()), detected_by="test")
    (incident,) = IntegrityIncident.objects.all()
    assert incident.suspect == f"batch {ore.id}" and incident.suspect_index is None
    assert incident.message == (
        f"batch {ore.id} altered: the stored row says quantity 940; the signed entries say 1000; "
        f"consequences: claim {VIN}"
    )
