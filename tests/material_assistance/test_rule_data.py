"""The §45X rule data: the document the core reads, its history, its changes in the log, its refusals."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audit import ledger_views
from cairn_core import dsse
from cairn_core.problems import Code
from cairn_core.regimes.s45x import rules as s45x_rules
from material_assistance import rule_data
from material_assistance.models import ComponentClass, MacrThreshold, PfeDesignation
from provenance import ledger_entries
from provenance.models import Entry, EntryType
from provenance.rule_changes import record_current, rule_change
from tests.support import logged_in, tamper

pytestmark = pytest.mark.django_db

SOURCE = "https://www.federalregister.gov/example-1260h-list"


def rules_entries() -> list[dict]:
    found = Entry.objects.filter(type=EntryType.LEDGER, statement__type="rules").order_by("index")
    return list(found.values_list("statement", flat=True))


def designate(entity: str = "shenzhen-anodes", **overrides) -> PfeDesignation:
    fields = {
        "entity": entity,
        "name": "Shenzhen Anodes Co., Ltd.",
        "kind": "specified",
        "basis": "§1260H list (Chinese military companies)",
        "designated_from": dt.date(2026, 1, 1),
        "source": SOURCE,
        "confirmed": True,
        **overrides,
    }
    return PfeDesignation.objects.create(**fields)


def test_the_document_holds_domain_md_figures_with_their_sources_and_flags():
    document = rule_data.document()
    assert document["regime"] == "45x"
    assert [row["class"] for row in document["component_classes"]] == [
        "battery_cell",
        "battery_module",
        "critical_mineral",
        "electrode_active_material",
    ]
    assert document["component_classes"][2]["components"] == ["critical_mineral"]
    electrode = document["component_classes"][3]
    assert electrode["components"] == ["anode_electrode", "cathode_electrode"] and electrode["confirmed"] is True
    cells = [row for row in document["thresholds"] if row["class"] == "battery_cell"]
    assert [(row["sold_from"], row["sold_through"], row["percent"]) for row in cells] == [
        ("2026-01-01", "2026-12-31", "60"),
        ("2027-01-01", "2027-12-31", "65"),
        ("2028-01-01", "2028-12-31", "70"),
        ("2029-01-01", "2029-12-31", "80"),
        ("2030-01-01", None, "85"),
    ]
    minerals = [row for row in document["thresholds"] if row["class"] == "critical_mineral"]
    assert (minerals[0]["sold_through"], minerals[0]["percent"], minerals[-1]["percent"]) == ("2029-12-31", "0", "50")
    # DOMAIN.md marks the thresholds secondary: every one stays unconfirmed, with its statute.
    assert {row["confirmed"] for row in document["thresholds"]} == {False}
    assert {row["source"] for row in document["thresholds"]} == {rule_data_source("thresholds")}
    assert document["designations"] == []
    assert document["status_date"]["rule"] == "last_day_of_taxable_year"
    assert document["status_date"]["confirmed"] is False
    assert document["existing_contract"] == {
        "binding_before": "2025-06-16",
        "sold_before": "2027-01-01",
        "source": "26 U.S.C. §45X, https://www.law.cornell.edu/uscode/text/26/45X",
        "confirmed": True,
    }
    assert list(document) == [
        "regime",
        "component_classes",
        "thresholds",
        "designations",
        "status_date",
        "existing_contract",
        "version",
    ]


def rule_data_source(section: str) -> str:
    return {"thresholds": "26 U.S.C. §7701(a)(52)(C), https://www.law.cornell.edu/uscode/text/26/7701"}[section]


def test_the_version_is_the_sha256_of_the_canonical_json_of_the_rest():
    document = rule_data.document()
    body = {name: value for name, value in document.items() if name != "version"}
    assert document["version"] == hashlib.sha256(dsse.canonical_json(body).encode("ascii")).hexdigest()
    designate()
    assert rule_data.document()["version"] != document["version"]


def test_the_core_reads_the_document_back_as_itself():
    designate(until=dt.date(2027, 7, 1))
    document = rule_data.document()
    parsed = s45x_rules.from_json(document)
    assert s45x_rules.to_json(parsed) == document and parsed.version == document["version"]


def test_a_designation_is_in_the_document_with_its_kind_basis_and_dates():
    designate(until=dt.date(2027, 7, 1), confirmed=False)
    [row] = rule_data.document()["designations"]
    assert row == {
        "entity": "shenzhen-anodes",
        "name": "Shenzhen Anodes Co., Ltd.",
        "kind": "specified",
        "basis": "§1260H list (Chinese military companies)",
        "from": "2026-01-01",
        "until": "2027-07-01",
        "source": SOURCE,
        "confirmed": False,
    }


def test_the_document_as_it_stood_before_a_change_is_read_from_the_history():
    before = rule_data.document()
    moment = timezone.now()
    threshold = MacrThreshold.objects.get(component_class="battery_cell", sold_from=dt.date(2027, 1, 1))
    threshold.percent = Decimal("62.5")
    threshold.save()
    designate()
    assert rule_data.document()["version"] != before["version"]
    assert rule_data.document(as_of=moment) == before
    changed = [row for row in rule_data.document()["thresholds"] if row["percent"] == "62.5"]
    assert [(row["class"], row["sold_from"]) for row in changed] == [("battery_cell", "2027-01-01")]


def test_a_change_is_a_rules_ledger_entry_of_its_regime_naming_its_rows(ledger):
    assert record_current(reason="after the migrations", source="the data migrations", by="tester") is not None
    before = rules_entries()
    logged_version = rule_data.document()["version"]
    assert before[-1]["regime"] == "45x" and before[-1]["sha256"] == before[-1]["version"] == logged_version

    with rule_change(reason="listed on the §1260H list", source=SOURCE, by="tester"):
        designate()
    # One entry, §45X's: §30D's rule data did not change.
    [latest] = rules_entries()[len(before) :]
    assert (latest["reason"], latest["source"], latest["by"]) == ("listed on the §1260H list", SOURCE, "tester")
    assert latest["regime"] == "45x"
    assert latest["version"] == latest["sha256"] == rule_data.document()["version"] != logged_version
    [designation] = latest["changes"]
    assert (designation["table"], designation["row"], designation["before"]) == (
        "designations",
        "shenzhen-anodes 2026-01-01",
        None,
    )
    assert designation["after"]["kind"] == "specified"
    assert ledger_entries.latest_rules_digest("45x")[1] == rule_data.document()["version"]
    # §30D's latest entry is still the one before the change.
    thirty_d = [entry for entry in rules_entries() if "regime" not in entry]
    assert ledger_entries.latest_rules_digest()[1] == thirty_d[-1]["sha256"]
    assert ledger_views.check_ledger_tables() == []
    # Nothing changed since: nothing more to record.
    assert record_current(reason="again", source="the data migrations", by="tester") is None


def test_rule_data_changed_without_its_entry_is_named_by_the_checks(ledger):
    record_current(reason="after the migrations", source="the data migrations", by="tester")
    tamper("UPDATE material_assistance_macrthreshold SET percent = 50 WHERE percent = 60")
    assert Code.RULES_DATA in {problem.code for problem in ledger_views.check_ledger_tables()}


def test_the_first_ledger_entry_records_the_migrated_rule_data(ledger, miner):
    # Registering the miner's key appended the ledger's first entries: the rule data first, each regime's.
    thirty_d, s45x = rules_entries()[:2]
    assert "regime" not in thirty_d
    assert (s45x["regime"], s45x["sha256"]) == ("45x", rule_data.document()["version"])


def test_a_bad_row_is_refused_by_its_checks():
    with pytest.raises(ValidationError, match="overlaps"):
        MacrThreshold(
            component_class_id="battery_cell", sold_from=dt.date(2026, 6, 1), percent=50, source="x"
        ).full_clean()
    with pytest.raises(ValidationError, match="ends before"):
        MacrThreshold(
            component_class_id="battery_cell",
            sold_from=dt.date(2040, 1, 1),
            sold_through=dt.date(2039, 1, 1),
            percent=50,
            source="x",
        ).full_clean()
    with pytest.raises(ValidationError, match="percent"):
        MacrThreshold(
            component_class_id="battery_pack", sold_from=dt.date(2040, 1, 1), percent=101, source="x"
        ).full_clean()
    with pytest.raises(ValidationError, match="until"):
        PfeDesignation(
            entity="x",
            name="X",
            kind="specified",
            basis="list",
            designated_from=dt.date(2026, 1, 1),
            until=dt.date(2026, 1, 1),
            source="x",
        ).full_clean()
    with pytest.raises(ValidationError, match="organisation slug"):
        PfeDesignation(
            entity="Shenzhen_Anodes",
            name="X",
            kind="specified",
            basis="list",
            designated_from=dt.date(2026, 1, 1),
            source="x",
        ).full_clean()
    for components in ([], ["Battery Pack"]):
        with pytest.raises(ValidationError) as refused:
            ComponentClass(slug="packs", components=components, source="x").full_clean()
        assert list(refused.value.message_dict) == ["components"]
    with pytest.raises(ValidationError, match="battery_cell already in battery_cell"):
        ComponentClass(slug="cells_again", components=["battery_cell"], source="x").full_clean()


@pytest.fixture
def root(django_user_model):
    return logged_in(django_user_model.objects.create_superuser("root", "root@example.org", "a-long-password"))


def designation_form(**overrides) -> dict[str, str]:
    return {
        "entity": "shenzhen-anodes",
        "name": "Shenzhen Anodes Co., Ltd.",
        "kind": "foreign_influenced",
        "basis": "an SFE holds 30% of its shares (§7701(a)(51)(D))",
        "designated_from": "2026-01-01",
        "until": "",
        "source": SOURCE,
        "notes": "",
        "change_reason": "found foreign-influenced",
        "change_source": SOURCE,
        **overrides,
    }


def test_the_admin_logs_a_designation_with_its_reason_and_source(ledger, root):
    response = root.post(reverse("admin:material_assistance_pfedesignation_add"), designation_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    designation = PfeDesignation.objects.get()
    assert designation.history.get().history_change_reason == "found foreign-influenced"
    latest = rules_entries()[-1]
    assert (latest["reason"], latest["source"], latest["by"]) == ("found foreign-influenced", SOURCE, "root")
    assert latest["regime"] == "45x" and [change["table"] for change in latest["changes"]] == ["designations"]
    assert ledger_views.check_ledger_tables() == []


def test_the_admin_refuses_a_bad_row_or_one_without_its_reason_and_stores_nothing(ledger, root):
    entries = Entry.objects.count()
    url = reverse("admin:material_assistance_pfedesignation_add")
    for form in (designation_form(until="2025-12-31"), designation_form(change_reason=""), designation_form(kind="x")):
        response = root.post(url, form)
        assert response.status_code == 200 and response.context["adminform"].form.errors
    assert not PfeDesignation.objects.exists() and not PfeDesignation.history.exists()
    assert Entry.objects.count() == entries


def test_rule_rows_are_never_deleted_in_the_admin(root):
    threshold = MacrThreshold.objects.first()
    assert threshold is not None
    response = root.post(
        reverse("admin:material_assistance_macrthreshold_delete", args=[threshold.pk]), {"post": "yes"}
    )
    assert response.status_code == 403 and MacrThreshold.objects.filter(pk=threshold.pk).exists()
