"""The admin: filters, review indicator, linked entries, and history with the user."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.sites import site
from django.urls import reverse
from freezegun import freeze_time

from agreements.models import (
    AgreementEvent,
    ApplicablePercentage,
    CreditParameters,
    CriticalMineral,
    FeocDesignation,
    FeocRule,
    TradeAgreement,
)
from agreements.snapshot import load_ruleset
from cairn_core.regimes.s30d import ruleset_json
from provenance.linking import relink
from provenance.models import Entry, EntryAgreementLink
from provenance.rule_changes import rule_change
from tests.agreements.domain import FTA_PARTNERS

pytestmark = pytest.mark.django_db
D = dt.date.fromisoformat
NON_USMCA = [code for code in FTA_PARTNERS if code not in ("CA", "MX")]
RULE_MODELS = [
    TradeAgreement,
    AgreementEvent,
    CriticalMineral,
    ApplicablePercentage,
    CreditParameters,
    FeocRule,
    FeocDesignation,
]


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("auditor-admin", "a@example.org", "pw-long-enough")


@pytest.fixture
def browser(client, admin_user):
    client.force_login(admin_user)
    return client


def listed(browser, **params) -> list[str]:
    response = browser.get(reverse("admin:agreements_tradeagreement_changelist"), params)
    assert response.status_code == 200
    return sorted(agreement.slug for agreement in response.context["cl"].result_list)


@pytest.mark.parametrize("model", [*RULE_MODELS, EntryAgreementLink])
def test_every_model_is_registered_and_lists(browser, model):
    assert model in site._registry
    opts = model._meta
    response = browser.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("model", RULE_MODELS)
def test_every_rule_model_keeps_history(model):
    assert hasattr(model, "history")
    assert "SimpleHistoryAdmin" in [cls.__name__ for cls in type(site._registry[model]).__mro__]


def test_filter_in_force_on_a_date(browser):
    # Each agreement from its own entry into force (USTR): NAFTA until USMCA.
    assert listed(browser, in_force_on="1985-08-31") == []
    assert listed(browser, in_force_on="1985-09-01") == ["us-il-fta"]
    assert listed(browser, in_force_on="2019-06-01") == sorted(
        ["us-ca-nafta", "us-mx-nafta", *(f"us-{code.lower()}-fta" for code in NON_USMCA)]
    )
    assert len(listed(browser, in_force_on="2023-03-27")) == 20
    assert len(listed(browser, in_force_on="2023-03-28")) == 21


def test_filter_by_party_and_mineral(browser):
    assert listed(browser, party="JP") == ["us-japan-cma"]
    assert listed(browser, party="MX") == ["us-mx-fta", "us-mx-nafta"]
    with_aluminum = listed(browser, mineral="aluminum")
    assert len(with_aluminum) == 22 and "us-japan-cma" not in with_aluminum
    assert len(listed(browser, mineral="cobalt")) == 23
    assert listed(browser, mineral="cobalt", party="JP", in_force_on="2023-03-28") == ["us-japan-cma"]


def test_bad_filter_date_is_refused_gracefully(browser):
    response = browser.get(reverse("admin:agreements_tradeagreement_changelist"), {"in_force_on": "June"})
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_review_due_indicator():
    admin = site._registry[TradeAgreement]
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    australia = TradeAgreement.objects.get(slug="us-au-fta")
    with freeze_time("2025-03-27"):
        assert admin.review_due_flag(japan) is False
        assert admin.review_status(japan) == "Next review 2025-03-28 (scheduled)"
    with freeze_time("2025-03-28"):
        assert admin.review_due_flag(japan) is True
        assert admin.review_status(japan) == "Next review 2025-03-28 (DUE)"
        assert admin.review_due_flag(australia) is False
        assert admin.review_status(australia) == "No review scheduled"


def test_change_page_shows_linked_entries(browser, rows):
    entry = rows.origin("kansai:ore-1", country="JP", day="2024-06-01", minerals={"lithium": "6"})
    relink()
    response = browser.get(reverse("admin:agreements_tradeagreement_change", args=["us-japan-cma"]))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"#{entry.index}</a> origin JP on 2024-06-01 (lithium)" in page or (
        f"#{entry.index} origin JP on 2024-06-01 (lithium)" in page
    )
    assert '?agreement__slug__exact=us-japan-cma">All 1 links</a>' in page
    changelist = browser.get(reverse("admin:agreements_tradeagreement_changelist"))
    japan = next(item for item in changelist.context["cl"].result_list if item.slug == "us-japan-cma")
    assert japan.link_count == 1


def change_form_data(agreement: TradeAgreement, **changes) -> dict:
    data = {
        "title": agreement.title,
        "kind": agreement.kind,
        "parties": [str(code) for code in agreement.parties],
        "source": agreement.source,
        "notes": agreement.notes,
        "signed": agreement.signed or "",
        "entered_into_force": agreement.entered_into_force or "",
        "counts_from": agreement.counts_from,
        "ends": agreement.ends or "",
        "covered_minerals": agreement.covered_minerals,
        "review_cadence_months": agreement.review_cadence_months or "",
        "next_review": agreement.next_review or "",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "1000",
        "change_reason": "Test scenario",
        "change_source": "https://example.org/test-scenario",
        "_save": "Save",
    }
    if agreement.unconfirmed:
        data["unconfirmed"] = "on"
    if agreement.covers_all_minerals:
        data["covers_all_minerals"] = "on"
    data.update(changes)
    return data


def test_an_admin_change_is_kept_in_history_with_the_user(browser, admin_user):
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    url = reverse("admin:agreements_tradeagreement_change", args=["us-japan-cma"])
    data = change_form_data(japan, next_review="2027-03-28", covered_minerals=["cobalt", "lithium", "nickel"])
    response = browser.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    latest, previous = TradeAgreement.history.filter(slug="us-japan-cma")[:2]
    assert latest.history_user == admin_user
    assert latest.history_type == "~"
    assert (previous.next_review, latest.next_review) == (None, D("2027-03-28"))
    delta = latest.diff_against(previous)
    assert sorted(change.field for change in delta.changes) == ["covered_minerals", "next_review"]
    assert sorted(previous.covered_minerals) == [
        "cobalt",
        "graphite",
        "lithium",
        "manganese",
        "nickel",
    ]


def test_an_event_added_in_the_admin_is_kept_with_the_user(browser, admin_user):
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    url = reverse("admin:agreements_tradeagreement_change", args=["us-japan-cma"])
    data = change_form_data(
        japan,
        **{
            "events-TOTAL_FORMS": "1",
            "events-0-kind": "termination",
            "events-0-effective_from": "2026-01-01",
            "events-0-source": "https://example.org/termination",
        },
    )
    response = browser.post(url, data)
    assert response.status_code == 302
    record = AgreementEvent.history.get()
    assert (record.history_user, record.kind, record.effective_from) == (
        admin_user,
        "termination",
        D("2026-01-01"),
    )
    assert japan.is_in_force(D("2025-12-31")) is True
    assert japan.is_in_force(D("2026-01-01")) is False


def test_invalid_covered_mineral_is_refused(browser):
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    url = reverse("admin:agreements_tradeagreement_change", args=["us-japan-cma"])
    response = browser.post(url, change_form_data(japan, covered_minerals=["lithium", "unobtainium"]))
    assert response.status_code == 200
    assert "covered_minerals" in response.context["adminform"].form.errors
    assert TradeAgreement.history.filter(slug="us-japan-cma").count() == 1


def test_agreements_and_links_cannot_be_deleted_or_edited_in_the_admin(browser, rows):
    assert browser.get(reverse("admin:agreements_tradeagreement_delete", args=["us-au-fta"])).status_code == 403
    rows.origin("kansai:ore-1", country="JP", day="2024-06-01", minerals={"lithium": "6"})
    relink()
    link = EntryAgreementLink.objects.get()
    assert browser.get(reverse("admin:provenance_entryagreementlink_add")).status_code == 403
    assert browser.post(reverse("admin:provenance_entryagreementlink_change", args=[link.pk]), {}).status_code == 403


def test_relink_action(browser, rows):
    rows.origin("kansai:ore-1", country="JP", day="2024-06-01", minerals={"lithium": "6", "nickel": "1"})
    response = browser.post(
        reverse("admin:agreements_tradeagreement_changelist"),
        {"action": "relink_all_entries", "_selected_action": ["us-japan-cma"]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 entries: 0 links kept, 2 added, 0 removed." in response.content.decode()
    assert EntryAgreementLink.objects.count() == 2


def test_history_page_renders(browser):
    response = browser.get(reverse("admin:agreements_tradeagreement_history", args=["us-japan-cma"]))
    assert response.status_code == 200
    assert "Loaded from DOMAIN.md" in response.content.decode()


def test_unconfirmed_rows_say_so_and_links_name_their_source(browser, rows):
    response = browser.get(reverse("admin:agreements_tradeagreement_change", args=["us-japan-cma"]))
    assert "Some facts in this row are unconfirmed: see the notes." in response.content.decode()
    response = browser.get(reverse("admin:agreements_tradeagreement_change", args=["us-au-fta"]))
    assert "Some facts in this row are unconfirmed" not in response.content.decode()
    rows.origin("kansai:ore-1", country="JP", day="2024-06-01", minerals={"nickel": "6"})
    relink()
    response = browser.get(reverse("admin:provenance_entryagreementlink_changelist"), {"country": "JP"})
    page = response.content.decode()
    assert "us-japan-cma" in page
    assert "https://ustr.gov/about-us/policy-offices/press-office/press-releases/2023/march/" in page


def test_a_change_keeps_the_reason_given_and_the_history_page_shows_it(browser):
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    url = reverse("admin:agreements_tradeagreement_change", args=["us-japan-cma"])
    form = browser.get(url).content.decode()
    assert 'name="change_reason"' in form
    assert 'name="change_source"' in form
    reason = "USTR fact sheet of 2027-03-28: review date set"
    source = "https://ustr.gov/example-fact-sheet"
    logged = Entry.objects.filter(type="ledger").count()
    data = change_form_data(
        japan,
        next_review="2027-03-28",
        change_reason=reason,
        change_source=source,
        **{
            "events-TOTAL_FORMS": "1",
            "events-0-kind": "amendment",
            "events-0-effective_from": "2027-01-01",
            "events-0-minerals_added": ["aluminum"],
            "events-0-source": "https://example.org/amendment",
        },
    )
    assert browser.post(url, data).status_code == 302
    assert TradeAgreement.history.filter(slug="us-japan-cma").first().history_change_reason == reason
    assert AgreementEvent.history.get().history_change_reason == reason
    history = browser.get(reverse("admin:agreements_tradeagreement_history", args=["us-japan-cma"]))
    assert reason in history.content.decode()
    # The change is in the log too (contract §12), with its reason, source and who (§30D's
    # entry; the first rule change of a new log records §45X's rule data beside it).
    (entry,) = [
        item
        for item in Entry.objects.filter(type="ledger").order_by("index")[logged:]
        if "regime" not in item.statement
    ]
    rules = entry.statement
    assert (rules["type"], rules["reason"], rules["source"], rules["by"]) == ("rules", reason, source, "auditor-admin")
    assert rules["sha256"] == ruleset_json.digest(load_ruleset())
    assert {(change["table"], change["row"]) for change in rules["changes"]} >= {("agreements", "us-japan-cma")}


@pytest.mark.parametrize("missing", ["change_reason", "change_source"])
def test_a_change_without_its_reason_or_its_source_is_refused(browser, missing):
    japan = TradeAgreement.objects.get(slug="us-japan-cma")
    url = reverse("admin:agreements_tradeagreement_change", args=["us-japan-cma"])
    logged = Entry.objects.count()
    response = browser.post(url, change_form_data(japan, next_review="2027-03-28", **{missing: ""}))
    assert response.status_code == 200
    assert missing in response.context["adminform"].form.errors
    assert TradeAgreement.objects.get(slug="us-japan-cma").next_review is None
    assert TradeAgreement.history.filter(slug="us-japan-cma").count() == 1
    assert Entry.objects.count() == logged


def test_auditors_read_covered_minerals_as_names(rows):
    from django.test import Client

    from audit.auditors import create_auditor

    with rule_change(reason="test scenario", source="test", by="test"):
        AgreementEvent.objects.create(
            agreement_id="us-japan-cma",
            kind="amendment",
            effective_from=D("2027-01-01"),
            minerals_added=["aluminum"],
            source="https://example.org/amendment",
        )
    client = Client()
    client.force_login(create_auditor("reader", password="a-long-test-password"))
    page = client.get(reverse("admin:agreements_tradeagreement_change", args=["us-japan-cma"])).content.decode()
    assert "cobalt, graphite, lithium, manganese, nickel" in page
    assert '["cobalt"' not in page and "[&quot;cobalt" not in page
    assert 'name="change_reason"' not in page
    assert "aluminum" in page and "[&quot;aluminum" not in page
    event = AgreementEvent.objects.get()
    page = client.get(reverse("admin:agreements_agreementevent_change", args=[event.pk])).content.decode()
    assert "[&quot;aluminum" not in page and "aluminum" in page
