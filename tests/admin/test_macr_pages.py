"""The auditors' §45X pages (audit/admin/macr.py): a component batch's verdict told in
words, its what-if (nothing stored), and the component batches' outlook."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from audit.models import Activity
from material_assistance import rule_data
from material_assistance.models import PfeDesignation
from provenance import checkpoints
from provenance.models import Batch, Entry
from provenance.rule_changes import rule_change
from tests.support import logged_in, make_party, tamper

pytestmark = pytest.mark.django_db
CELLS = "detroit-cells:cells-1"


@pytest.fixture
def cells(ledger, miner, refiner, maker):
    """Cells made in the US in 2026, $100 of direct materials: $60 of the refiner's (JP)
    cathode material, certified for 2026 as not from a PFE; $25 of the miner's (AU)
    graphite, not certified; $15 of a Chinese electrolyte maker's, certified, but the
    maker is designated a PFE from 2026-09-01 (after it made the electrolyte). Attributed:
    25 + 15 = 40, MACR = (100 - 40) / 100 = 60%: a pass at 2026's 60%, sold in November
    2026; a fail were it sold in 2027 (65%)."""
    foreign = make_party("ningbo-electrolyte", ["supplier"], country="CN", name="Ningbo Electrolyte")
    with rule_change(reason="a designation for the test", source="https://example.org/list", by="tester"):
        PfeDesignation.objects.create(
            entity=foreign.slug,
            name="Ningbo Electrolyte Co., Ltd.",
            kind="specified",
            basis="a list",
            designated_from=dt.date(2026, 9, 1),
            source="https://example.org/list",
        )
    # (supplier, its batch, the cell maker's direct material cost of it)
    supplied = [
        (refiner, ledger.origin(refiner, batch="kansai-refining:cam-1", quantity="100", country="JP"), "60"),
        (miner, ledger.origin(miner, batch="pilbara-mining:graphite-1", quantity="100", country="AU"), "25"),
        (foreign, ledger.origin(foreign, batch="ningbo-electrolyte:el-1", quantity="100", country="CN"), "15"),
    ]
    for supplier, batch, _cost in supplied:
        ledger.transfer(supplier, batch, maker)
    payload = ledger.statement(
        "transform",
        maker,
        activity="manufacturing",
        site={"name": "Detroit cell plant", "country": "US"},
        inputs=[
            {"batch": batch, "prev": ledger.head(batch), "quantity": "50", "direct_material_cost_usd": cost}
            for _supplier, batch, cost in supplied
        ],
        outputs=[
            {
                "batch": CELLS,
                "material": "NMC cells",
                "quantity": "500",
                "unit": "unit",
                "value_added_usd": "100",
                "component": "battery_cell",
            }
        ],
    )
    ledger.post(maker, payload)
    for supplier, batch, _cost in (supplied[0], supplied[2]):
        ledger.supplier_certification(
            supplier, batch, maker, direct_material_cost_usd="100", non_pfe_direct_material_cost_usd="100"
        )
    ledger.sale(maker, CELLS, "500", sold_on="2026-11-30")
    checkpoints.publish_checkpoint()
    return Batch.objects.get(id=CELLS)


def page_url(batch_id: str = CELLS, year: int = 2026) -> str:
    return reverse("admin:provenance_batch_macr", args=[quote(batch_id), year])


def words_of(html: str) -> str:
    """Words as read: inline tags dropped, others a space, spaces squeezed."""
    inline = re.sub(r"</?(a|strong|code|span)\b[^>]*>", "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inline))


def text(response) -> str:
    return words_of(response.content.decode())


def section(response, element_id: str) -> str:
    """The words of the div with that id (to its own closing tag)."""
    body = response.content.decode()
    start = body.index(f'id="{element_id}"')
    depth, position = 1, start
    while depth:
        tag = re.compile(r"<(/?)div\b").search(body, position)
        assert tag is not None, f"#{element_id} is not closed"
        depth += -1 if tag.group(1) else 1
        position = tag.end()
    return words_of(body[start:position])


def test_the_page_tells_the_verdicts_story(cells, auditor_user):
    response = logged_in(auditor_user).get(page_url())
    assert response.status_code == 200
    words = text(response)
    assert (
        "Pass: 60.00% of the direct material costs ($60 of $100) are not attributed to prohibited foreign "
        "entities, at least the 60% a battery cell sold in 2026 must reach." in words
    )
    assert "Attributed to prohibited foreign entities $40 (not attributed: $60)" in words
    assert "60.00% (truncated, never rounded up across the threshold; exact ratio floored to 12 places: " in words
    assert "exact ratio floored to 12 places: 0.600000000000)" in words
    assert "60% for a battery cell sold from 2026-01-01 through 2026-12-31" in words
    assert "unconfirmed: from secondary sources" in section(response, "cairn-macr-figures")
    sale = Entry.objects.get(type="sale")
    assert f"2026, from the sale of 2026-11-30 (entry #{sale.index})" in words
    assert f'href="{reverse("admin:provenance_entry_change", args=[sale.index])}"' in response.content.decode()
    assert "Status date 2026-12-31" in words and "does not apply" in section(response, "cairn-macr-figures")
    inputs = section(response, "cairn-macr-inputs")
    assert "No certification by Pilbara Mining (pilbara-mining) to detroit-cells for 2026 counts" in inputs
    assert "is designated a prohibited foreign entity (specified foreign entity: a list) from 2026-09-01" in inputs
    assert "so it is one on 2026-12-31, the status date of 2026" in inputs
    [kansai, _ningbo] = Entry.objects.filter(type="supplier_certification").order_by("index")
    assert f"Certified by Kansai Refining (kansai-refining) in entry #{kansai.index}: not produced by a" in inputs
    assert f'href="{reverse("admin:provenance_entry_change", args=[kansai.index])}"' in response.content.decode()
    scope = section(response, "cairn-macr-scope")
    assert "IRC §45X(c)(1)(C); IRC §7701(a)(51)" in scope and "IRS Notice 2026-15, §4" in scope
    viewed = Activity.objects.get(action=Activity.Action.VIEWED_VERDICT)
    assert viewed.subject == f"{CELLS} §45X 2026"


def test_the_what_if_shows_the_changed_verdict_and_stores_nothing(cells, auditor_user):
    client = logged_in(auditor_user)
    entries, version = Entry.objects.count(), rule_data.document()["version"]
    sold_later = client.get(page_url(), {"what_if": "1", "year_sold": "2027"})
    result = section(sold_later, "cairn-macr-what-if-result")
    assert "If the batch were sold in 2027" in result
    assert "Fail: 60.00% of the direct material costs ($60 of $100)" in result
    assert "below the 65% a battery cell sold in 2027 must reach. (now: pass)" in result
    assert "(the log's rules, unchanged)" in result
    cleared = client.get(page_url(), {"what_if": "1", "undesignate": "ningbo-electrolyte"})
    result = section(cleared, "cairn-macr-what-if-result")
    assert "Pass: 75.00% of the direct material costs ($75 of $100)" in result
    assert "ningbo-electrolyte:el-1 ningbo-electrolyte $15 $0" in result
    assert "the log's rules with the designations changed" in result
    designated = client.get(page_url(), {"what_if": "1", "designate": "kansai-refining", "kind": "foreign_influenced"})
    result = section(designated, "cairn-macr-what-if-result")
    assert "If Kansai Refining (kansai-refining) were designated a foreign-influenced entity from 2026-01-01" in result
    assert "Fail: 0.00% of the direct material costs ($0 of $100)" in result
    assert Entry.objects.count() == entries and rule_data.document()["version"] == version
    assert PfeDesignation.objects.count() == 1
    ran = Activity.objects.filter(action=Activity.Action.RAN_WHAT_IF).order_by("id")
    assert [row.parameters for row in ran] == [
        {"year_sold": 2027},
        {"undesignate": "ningbo-electrolyte"},
        {"designate": "kansai-refining"},
    ]


@pytest.mark.parametrize(
    "query",
    [
        {"what_if": "1"},
        {"what_if": "1", "year_sold": "1999"},
        {"what_if": "1", "year_sold": "2027.5"},
        {"what_if": "1", "designate": "someone-else"},
        {"what_if": "1", "undesignate": "kansai-refining"},
    ],
)
def test_a_what_if_off_its_form_is_refused_and_runs_nothing(cells, auditor_user, query):
    response = logged_in(auditor_user).get(page_url(), query)
    assert response.status_code == 200 and 'id="cairn-macr-what-if-result"' not in response.content.decode()
    assert response.context["form"].errors
    assert not Activity.objects.filter(action=Activity.Action.RAN_WHAT_IF).exists()


def test_a_what_if_over_broken_evidence_is_incomplete_as_the_verdict_is(cells, auditor_user):
    tamper("DELETE FROM provenance_checkpoint")
    response = logged_in(auditor_user).get(page_url(), {"what_if": "1", "undesignate": "ningbo-electrolyte"})
    words = text(response)
    assert "Incomplete: the evidence fails its integrity checks (see the problems)" in words
    assert "a what-if is incomplete too, whatever the designations" in words
    assert response.context["what_if"]["verdict"]["outcome"] == "incomplete"
    assert 'cairn-outcome-incomplete" id="cairn-macr-what-if-outcome">Incomplete<' in response.content.decode()
    assert Activity.objects.filter(action=Activity.Action.RAN_WHAT_IF).count() == 1


def test_the_outlook_lists_component_batches_and_which_65_would_fail(cells, chain, auditor_user):
    client = logged_in(auditor_user)
    url = reverse("admin:provenance_batch_macr_outlook")
    response = client.get(url, {"year": "2026"})
    rows = {row.batch.id: row for row in map(Row, response.context["rows"])}
    components = set(Batch.objects.exclude(component__in=["", "battery_pack"]).values_list("id", flat=True))
    assert set(rows) == components and CELLS in rows
    assert (rows[CELLS].outcome, rows[CELLS].percent, rows[CELLS].threshold) == ("pass", "60.00", "60")
    assert (rows[CELLS].next_outcome, rows[CELLS].next_threshold) == ("fail", "65")
    assert response.context["failing_count"] == 1
    assert "1 that passes or is excepted now would fail if sold in 2027 (threshold 65%)" in text(response)
    only = client.get(url, {"year": "2026", "would_fail": "1"})
    assert [row["batch"].id for row in only.context["rows"]] == [CELLS]
    later = client.get(url, {"year": "2027"})
    assert not later.context["failing_count"]


class Row:
    def __init__(self, row: dict) -> None:
        self.__dict__.update(row)


def test_a_batch_page_links_its_verdict_and_the_list_links_the_outlook(cells, auditor_user):
    client = logged_in(auditor_user)
    page = client.get(reverse("admin:provenance_batch_change", args=[quote(CELLS)])).content.decode()
    assert page_url(CELLS, dt.datetime.now(dt.UTC).year) in page
    listing = client.get(reverse("admin:provenance_batch_changelist")).content.decode()
    assert reverse("admin:provenance_batch_macr_outlook") in listing


def test_only_staff_who_may_view_batches_see_the_pages(cells, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="a-long-test-password", is_staff=True)
    client = logged_in(viewer)
    assert client.get(page_url()).status_code == 403
    assert client.get(reverse("admin:provenance_batch_macr_outlook")).status_code == 403
    assert not Activity.objects.exists()


def test_an_unknown_batch_or_year_is_not_found(cells, auditor_user):
    client = logged_in(auditor_user)
    assert client.get(page_url("detroit-cells:nothing")).status_code == 404
    assert client.get(page_url(year=1999)).status_code == 404
