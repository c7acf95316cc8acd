"""Linking ledger entries to the agreements that make their country count."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agreements import snapshot
from agreements.models import AgreementEvent, TradeAgreement
from provenance.linking import link_entry, link_inputs, links_for_entries, relink
from provenance.models import Entry, EntryAgreementLink

pytestmark = pytest.mark.django_db
D = dt.date.fromisoformat


def links(entry) -> list[tuple[str, str, str]]:
    return sorted(
        (link.agreement_id, link.mineral, str(link.country)) for link in EntryAgreementLink.objects.filter(entry=entry)
    )


def test_link_entry_links_each_mineral_to_its_agreements(rows):
    entry = rows.entry("origin", "kansai-refining", "2024-06-01", {})
    created = link_entry(entry, country="JP", minerals=["nickel", "lithium", "aluminum"], on=D("2024-06-01"))
    assert [(link.agreement_id, link.mineral) for link in created] == [
        ("us-japan-cma", "lithium"),
        ("us-japan-cma", "nickel"),
    ]
    assert links(entry) == [("us-japan-cma", "lithium", "JP"), ("us-japan-cma", "nickel", "JP")]
    assert {link.rules_version for link in created} == {snapshot.rules_version()}


@pytest.mark.parametrize(
    ("country", "day", "expected"),
    [
        ("JP", "2023-03-27", []),
        ("JP", "2023-03-28", ["us-japan-cma"]),
        # The US-Australia FTA is in force from 2005-01-01 (USTR), not from 2023-04-18.
        ("AU", "2004-12-31", []),
        ("AU", "2005-01-01", ["us-au-fta"]),
        ("AU", "2023-04-17", ["us-au-fta"]),
        ("US", "2024-06-01", []),
        ("CN", "2024-06-01", []),
    ],
)
def test_link_entry_on_boundary_dates(rows, country, day, expected):
    entry = rows.entry("origin", "miner", day, {})
    link_entry(entry, country=country, minerals=["lithium"], on=D(day))
    assert [agreement for agreement, _, _ in links(entry)] == expected


def test_link_entry_costs_two_queries_with_a_warm_cache(rows):
    entry = rows.entry("origin", "kansai-refining", "2024-06-01", {})
    snapshot.current_ruleset()
    with CaptureQueriesContext(connection) as queries:
        link_entry(entry, country="JP", minerals=["lithium", "cobalt"], on=D("2024-06-01"))
    assert len(queries) == 2  # rule version, one insert


def test_link_entry_with_a_given_ruleset_costs_one_query(rows):
    entry = rows.entry("origin", "kansai-refining", "2024-06-01", {})
    ruleset = snapshot.load_ruleset()
    with CaptureQueriesContext(connection) as queries:
        link_entry(entry, country="JP", minerals=["lithium"], on=D("2024-06-01"), ruleset=ruleset)
    assert len(queries) == 1


def test_link_inputs_for_origin_and_transform(rows):
    origin = rows.origin("pilbara:ore-1", country="AU", day="2024-02-01", minerals={"lithium": "60"})
    nickel = rows.origin("vale:ni-1", country="CA", day="2024-02-02", minerals={"nickel": "20", "cobalt": "2"})
    transform = rows.transform(["pilbara:ore-1", "vale:ni-1"], "kansai:pcam-1", country="JP", day="2024-06-01")
    claim = rows.claim(
        "kansai:pcam-1",
        "VIN",
        day="2024-07-01",
        acquired="2024-07-01",
        placed_in_service="2024-07-02",
    )
    assert link_inputs(origin) == ("AU", ["lithium"], D("2024-02-01"))
    assert link_inputs(nickel) == ("CA", ["cobalt", "nickel"], D("2024-02-02"))
    assert link_inputs(transform) == ("JP", ["cobalt", "lithium", "nickel"], D("2024-06-01"))
    assert link_inputs(claim.entry) is None


def test_relink_follows_agreement_changes_and_never_touches_entries(rows):
    refinery = rows.origin("kansai:ore-1", country="JP", day="2024-06-01", minerals={"lithium": "6", "nickel": "3"})
    mine = rows.origin("pilbara:ore-1", country="AU", day="2024-06-01", minerals={"lithium": "6"})
    statements = list(Entry.objects.order_by("index").values_list("index", "entry_hash", "statement", "occurred_at"))
    first = relink()
    assert (first.entries, first.kept, first.added, first.removed) == (2, 0, 3, 0)
    assert links(refinery) == [("us-japan-cma", "lithium", "JP"), ("us-japan-cma", "nickel", "JP")]
    assert links(mine) == [("us-au-fta", "lithium", "AU")]

    AgreementEvent.objects.create(
        agreement_id="us-japan-cma",
        kind="amendment",
        effective_from=D("2024-01-01"),
        minerals_removed=["nickel"],
        source="https://example.org/a",
    )
    result = relink()
    assert (result.entries, result.kept, result.added, result.removed) == (2, 2, 0, 1)
    assert links(refinery) == [("us-japan-cma", "lithium", "JP")]
    assert EntryAgreementLink.objects.get(entry=refinery).rules_version == snapshot.rules_version()

    AgreementEvent.objects.create(
        agreement_id="us-japan-cma",
        kind="termination",
        effective_from=D("2024-06-01"),
        source="https://example.org/t",
    )
    call_command("relink_agreements", stdout=io.StringIO())
    assert links(refinery) == []
    assert links(mine) == [("us-au-fta", "lithium", "AU")]
    assert list(Entry.objects.order_by("index").values_list("index", "entry_hash", "statement", "occurred_at")) == (
        statements
    )


def test_relink_command_reports(rows, capsys):
    rows.origin("kansai:ore-1", country="JP", day="2024-06-01", minerals={"lithium": "6"})
    call_command("relink_agreements")
    out = capsys.readouterr().out
    version = snapshot.rules_version()
    assert out == f"1 entries relinked under {version}: 0 links kept, 1 added, 0 removed\n"


def test_relink_a_subset_of_entries(rows):
    first = rows.origin("kansai:ore-1", country="JP", day="2024-06-01", minerals={"lithium": "6"})
    second = rows.origin("kansai:ore-2", country="JP", day="2024-06-01", minerals={"lithium": "6"})
    result = relink(Entry.objects.filter(index=first.index))
    assert (result.entries, result.added) == (1, 1)
    assert links(second) == []


def test_links_for_entries(rows):
    first = rows.origin("kansai:ore-1", country="JP", day="2024-06-01", minerals={"nickel": "3", "lithium": "6"})
    second = rows.origin("detroit:ore-1", country="US", day="2024-06-01", minerals={"lithium": "6"})
    relink()
    with CaptureQueriesContext(connection) as queries:
        found = links_for_entries([first.index, second.index])
    assert len(queries) == 1
    assert found == {
        first.index: [
            {"agreement": "us-japan-cma", "mineral": "lithium", "country": "JP"},
            {"agreement": "us-japan-cma", "mineral": "nickel", "country": "JP"},
        ],
        second.index: [],
    }


def test_an_agreement_with_links_cannot_be_deleted(rows):
    from django.db.models import ProtectedError

    rows.origin("kansai:ore-1", country="JP", day="2024-06-01", minerals={"lithium": "6"})
    relink()
    with pytest.raises(ProtectedError):
        TradeAgreement.objects.get(slug="us-japan-cma").delete()
