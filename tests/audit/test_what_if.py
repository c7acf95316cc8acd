"""What-if: the engine under changed rules lists the claims whose credit or
qualifying percentage would change, and stores nothing."""

from __future__ import annotations

from django.core.management import call_command

from audit.models import Verification
from tests.support import claim, simple_chain

JAPAN_ONLY = "5YJ3E1EA0PF000010"  # ID extraction, JP processing: qualifies through Japan
AUSTRALIAN = "5YJ3E1EA0PF000011"  # AU extraction: qualifies without Japan


def two_claims(ledger, miner, indo_miner, refiner, maker):
    japan_pack = simple_chain(ledger, indo_miner, refiner, maker, mine_country="ID")
    japan = claim(ledger, maker, japan_pack, JAPAN_ONLY)
    australian_pack = simple_chain(ledger, miner, refiner, maker)
    australian = claim(ledger, maker, australian_pack, AUSTRALIAN)
    return japan, australian


def test_agreement_impact_lists_changed_claims_with_before_and_after(ledger, miner, indo_miner, refiner, maker, capsys):
    japan, _ = two_claims(ledger, miner, indo_miner, refiner, maker)
    call_command("agreement_impact", "us-japan-cma", "--terminate-on", "2024-04-01")
    out = capsys.readouterr().out.splitlines()
    assert "1 claims whose result changes" in out
    assert (
        f"  {JAPAN_ONLY} (claim #{japan.entry_id}, in service 2024-06-15): "
        "before {'credit_usd': '7500', 'qualifying_pct': '100.00'}; "
        "after {'credit_usd': '3750', 'qualifying_pct': '0.00'}"
    ) in out
    assert Verification.objects.count() == 0


def test_admin_action_runs_the_what_if_for_a_chosen_date(ledger, miner, indo_miner, refiner, maker, admin_client):
    two_claims(ledger, miner, indo_miner, refiner, maker)
    url = "/admin/agreements/tradeagreement/"
    asked = admin_client.post(url, {"action": "what_if_terminated", "_selected_action": ["us-japan-cma"]})
    assert asked.status_code == 200 and b'name="terminate_on"' in asked.content
    answered = admin_client.post(
        url,
        {"action": "what_if_terminated", "_selected_action": ["us-japan-cma"], "terminate_on": "2024-04-01"},
    )
    html = answered.content.decode()
    assert answered.status_code == 200
    assert "1 claim would change" in html and JAPAN_ONLY in html and AUSTRALIAN not in html
    assert "$7,500" in html and "$3,750" in html
    assert Verification.objects.count() == 0


def test_the_what_if_from_the_agreement_s_own_page(ledger, miner, indo_miner, refiner, maker, admin_client):
    """Reached from the agreement's page, with an ISO date; VINs and entries linked; the unchanged claims counted."""
    from audit.models import Activity

    japan, australian = two_claims(ledger, miner, indo_miner, refiner, maker)
    page = admin_client.get("/admin/agreements/tradeagreement/us-japan-cma/change/").content.decode()
    url = "/admin/agreements/tradeagreement/us-japan-cma/what-if/"
    assert f'href="{url}" id="cairn-what-if-link"' in page
    asked = admin_client.get(url).content.decode()
    assert 'placeholder="YYYY-MM-DD"' in asked and f'action="{url}"' in asked

    refused = admin_client.post(url, {"terminate_on": "04/01/2024"}).content.decode()
    assert "Enter the date as YYYY-MM-DD, e.g. 2025-01-01." in refused and "would change" not in refused
    html = admin_client.post(url, {"terminate_on": "2024-04-01"}).content.decode()
    assert "2 claims evaluated, 1 unchanged;\n1 claim would change." in html
    assert f'<a href="/admin/provenance/claim/{JAPAN_ONLY}/change/">{JAPAN_ONLY}</a>' in html
    assert f'<a href="/admin/provenance/entry/{japan.entry_id}/change/">#{japan.entry_id}</a>' in html
    assert AUSTRALIAN not in html
    assert Verification.objects.count() == 0
    ran = Activity.objects.get(action="ran_what_if")
    assert (ran.subject, ran.parameters) == ("us-japan-cma", {"terminate_on": "2024-04-01"})


def test_the_agreement_s_what_if_is_a_404_for_an_unknown_agreement(admin_client):
    assert admin_client.get("/admin/agreements/tradeagreement/no-such/what-if/").status_code == 404
