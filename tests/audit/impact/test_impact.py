"""What-if: the entries, batches and claims that rely on an agreement ending."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command

from agreements import snapshot
from audit.impact import AffectedEntry, ClaimImpact, MineralChange, impact_of_termination
from cairn_core.regimes.s30d import rules
from provenance.linking import relink
from provenance.models import EntryAgreementLink

pytestmark = pytest.mark.django_db
D = dt.date.fromisoformat


@pytest.fixture
def chain(rows):
    """A Japanese refinery's lithium and nickel in one pack, Australian lithium in another."""
    early = rows.origin("kansai:ore-0", country="JP", day="2024-01-15", minerals={"lithium": "5"})
    ore = rows.origin("kansai:ore-1", country="JP", day="2024-06-01", minerals={"lithium": "6", "nickel": "3"})
    rows.origin("pilbara:ore-1", country="AU", day="2024-06-02", minerals={"lithium": "6"})
    rows.origin("pilbara:ore-2", country="AU", day="2024-06-02", minerals={"lithium": "6"})
    pcam = rows.transform(["kansai:ore-1", "pilbara:ore-1"], "kansai:pcam-1", country="JP", day="2024-07-01")
    rows.transform(["kansai:pcam-1"], "detroit:pack-1", country="US", day="2024-08-01")
    rows.transform(["pilbara:ore-2"], "detroit:pack-2", country="US", day="2024-08-01")
    rows.claim(
        "detroit:pack-1",
        "VIN00000000000001",
        day="2024-09-01",
        acquired="2024-09-01",
        placed_in_service="2024-09-02",
    )
    rows.claim(
        "detroit:pack-2",
        "VIN00000000000002",
        day="2024-09-01",
        acquired="2024-09-01",
        placed_in_service="2024-09-02",
    )
    relink()
    return {"early": early, "ore": ore, "pcam": pcam}


def lost(*minerals):
    return tuple(MineralChange(mineral, ("us-japan-cma",), (), False) for mineral in minerals)


def test_impact_lists_entries_on_or_after_the_date_and_downstream_claims(chain):
    before_links = list(EntryAgreementLink.objects.values_list("entry_id", "agreement_id", "mineral"))
    impact = impact_of_termination("us-japan-cma", D("2024-06-01"))
    assert impact.entries == (
        AffectedEntry(
            index=chain["ore"].index,
            type="origin",
            issuer="kansai",
            occurred_on=D("2024-06-01"),
            country="JP",
            batches=("kansai:ore-1",),
            minerals=lost("lithium", "nickel"),
        ),
        AffectedEntry(
            index=chain["pcam"].index,
            type="transform",
            issuer="kansai",
            occurred_on=D("2024-07-01"),
            country="JP",
            batches=("kansai:pcam-1",),
            minerals=lost("lithium", "nickel"),
        ),
    )
    assert impact.claims == (
        ClaimImpact(
            vin="VIN00000000000001",
            claim_index=7,
            placed_in_service=D("2024-09-02"),
            acquired=D("2024-09-01"),
            batch="detroit:pack-1",
        ),
    )
    assert impact.claims_evaluated is False
    assert impact.rules_version_before == snapshot.rules_version()
    assert impact.rules_version_after == f"{snapshot.rules_version()}+terminate:us-japan-cma@2024-06-01"
    # A what-if stores nothing.
    assert list(EntryAgreementLink.objects.values_list("entry_id", "agreement_id", "mineral")) == before_links


def test_terminating_after_every_entry_affects_nothing(chain):
    impact = impact_of_termination("us-japan-cma", D("2024-07-02"))
    assert (impact.entries, impact.claims) == ((), ())


def test_an_audit_engine_plugs_in_and_only_changed_claims_are_kept(chain):
    def japanese_lithium_counts(ruleset, claim):
        return {"jp_lithium": bool(rules.qualifying_agreements(ruleset, "JP", "lithium", claim.placed_in_service))}

    impact = impact_of_termination("us-japan-cma", D("2024-06-01"), evaluate=japanese_lithium_counts)
    assert impact.claims_evaluated is True
    assert [(claim.vin, claim.before, claim.after) for claim in impact.claims] == [
        ("VIN00000000000001", {"jp_lithium": True}, {"jp_lithium": False})
    ]
    unchanged = impact_of_termination("us-japan-cma", D("2024-06-01"), evaluate=lambda ruleset, claim: {"x": 1})
    assert unchanged.claims == ()


def test_command_prints_the_impact(chain, capsys):
    call_command("agreement_impact", "us-japan-cma", "--terminate-on", "2024-06-01", "--no-evaluate")
    lines = capsys.readouterr().out.splitlines()
    version = snapshot.rules_version()
    assert lines == [
        f"If us-japan-cma ended on 2024-06-01 (rules {version} -> {version}+terminate:us-japan-cma@2024-06-01):",
        "2 affected entries",
        f"  #{chain['ore'].index} origin by kansai in JP on 2024-06-01; batches: kansai:ore-1",
        "    lithium: before us-japan-cma; after none",
        "    nickel: before us-japan-cma; after none",
        f"  #{chain['pcam'].index} transform by kansai in JP on 2024-07-01; batches: kansai:pcam-1",
        "    lithium: before us-japan-cma; after none",
        "    nickel: before us-japan-cma; after none",
        "1 downstream claims",
        "  VIN00000000000001 (claim #7, in service 2024-09-02)",
        "  (not evaluated: run without --no-evaluate to compare credits)",
    ]


def test_command_prints_json(chain, capsys):
    call_command(
        "agreement_impact",
        "us-japan-cma",
        "--terminate-on",
        "2024-06-01",
        "--json",
        "--no-evaluate",
    )
    data = json.loads(capsys.readouterr().out)
    assert data["agreement"] == "us-japan-cma"
    assert data["terminate_on"] == "2024-06-01"
    assert [entry["index"] for entry in data["entries"]] == [
        chain["ore"].index,
        chain["pcam"].index,
    ]
    assert data["entries"][0]["minerals"][0] == {
        "mineral": "lithium",
        "before": ["us-japan-cma"],
        "after": [],
        "qualifies_after": False,
    }
    assert data["claims"] == [
        {
            "vin": "VIN00000000000001",
            "claim_index": 7,
            "placed_in_service": "2024-09-02",
            "acquired": "2024-09-01",
            "batch": "detroit:pack-1",
            "before": None,
            "after": None,
        }
    ]


def test_command_refuses_unknown_agreements_and_bad_dates(db):
    with pytest.raises(CommandError, match="no agreement 'us-uk-fta'"):
        call_command("agreement_impact", "us-uk-fta", "--terminate-on", "2024-06-01")
    with pytest.raises(CommandError):
        call_command("agreement_impact", "us-japan-cma", "--terminate-on", "June")
