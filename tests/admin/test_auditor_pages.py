"""Claims with verdicts, Verify, the verdict page, the signed report, integrity."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from audit.models import Verification
from cairn_core import dsse
from provenance import ledger_key
from provenance.models import Claim
from tests.admin.conftest import VIN

pytestmark = pytest.mark.django_db

CLAIMS = reverse("admin:provenance_claim_changelist")
VERIFY = reverse("admin:provenance_claim_verify", args=[VIN])


def verdict_url(verification: Verification) -> str:
    return reverse("admin:audit_verification_change", args=[verification.pk])


def test_claims_view_lists_each_vin_with_a_verify_button(chain, auditor_client):
    page = auditor_client.get(CLAIMS).content.decode()
    assert VIN in page
    assert "not verified" in page
    assert f'formaction="{VERIFY}"' in page
    assert 'id="cairn-verify-form"' in page


def test_verify_creates_a_verification_and_shows_the_verdict(chain, auditor_client, auditor_user):
    response = auditor_client.post(VERIFY)

    verification = Verification.objects.get()
    assert response.status_code == 302
    assert response["Location"] == verdict_url(verification)
    assert verification.requested_by == auditor_user
    assert verification.credit_usd == "7500"
    listed = auditor_client.get(CLAIMS).content.decode()
    assert "$7,500" in listed and verdict_url(verification) in listed
    # The page says when and for whom, as the signed report does.
    page = auditor_client.get(verdict_url(verification)).content.decode()
    when, org = verification.verdict["verified_at"], verification.verdict["requested_by"]["organization"]
    org = org or "no organisation"  # an admin auditor of no organisation
    shown = when.replace("T", " ").replace("Z", " UTC")[:19] + " UTC"
    assert f'<time datetime="{when}">{shown}</time> for {org} (user {auditor_user.username})' in page


def test_verify_needs_post_and_the_permission(chain, auditor_client, staff_viewer):
    from tests.support import logged_in

    assert auditor_client.get(VERIFY).status_code == 405
    viewer = logged_in(staff_viewer)
    assert viewer.get(CLAIMS).status_code == 200
    assert f'formaction="{VERIFY}"' not in viewer.get(CLAIMS).content.decode()
    assert viewer.post(VERIFY).status_code == 403
    assert not Verification.objects.exists()


def test_verify_action_on_selected_claims(chain, auditor_client):
    response = auditor_client.post(CLAIMS, {"action": "verify_selected", "_selected_action": [VIN]})
    verification = Verification.objects.get()
    assert response["Location"] == verdict_url(verification)


def test_verdict_page_explains_the_figures(chain, auditor_client):
    auditor_client.post(VERIFY)
    verification = Verification.objects.get()
    claim = Claim.objects.get(vin=VIN)

    page = auditor_client.get(verdict_url(verification)).content.decode()

    assert 'id="cairn-credit">$7,500<' in page
    assert "qualifying content <strong>100.00%</strong>, required 50%" in page
    assert "North American content <strong>100.00%</strong>, required 60%" in page
    assert reverse("admin:agreements_tradeagreement_change", args=["us-au-fta"]) in page
    assert reverse("admin:agreements_tradeagreement_change", args=["us-japan-cma"]) in page
    assert reverse("admin:provenance_batch_change", args=[chain["ore"]]) in page
    assert reverse("admin:provenance_entry_change", args=[claim.entry_id]) in page
    assert verification.checkpoint.splitlines()[1] in page  # the tree size line of the note
    assert "verifies with the ledger key" in page
    assert 'id="cairn-graph-data"' in page
    assert reverse("admin:audit_verification_report", args=[verification.pk]) in page


def test_verdict_page_lists_problems_with_their_entries(db, ledger, miner, maker, auditor_client):
    ore = ledger.origin(miner, minerals={"lithium": "60"}, country="AU")
    ledger.transfer(miner, ore, maker)
    (pack,) = ledger.transform(
        maker,
        [(ore, "1000")],
        # A module: a listed battery component (a pack's assembly is not one).
        [{"quantity": "1", "unit": "unit", "component": "battery_module", "value_added_usd": "900"}],
        activity="assembly",
    )
    ledger.claim(maker, pack, VIN, country="DE")
    verification = Verification.objects.get(pk=auditor_client.post(VERIFY).url.split("/")[-3])
    claim = Claim.objects.get(vin=VIN)

    page = auditor_client.get(verdict_url(verification)).content.decode()

    assert 'id="cairn-credit">$0<' in page
    assert "Problems (1)" in page
    assert "<code>final_assembly</code>" in page
    entry = reverse("admin:provenance_entry_change", args=[claim.entry_id])
    assert f'<a href="{entry}">#{claim.entry_id}</a>' in page


def test_report_downloads_as_a_signed_json_file(chain, auditor_client):
    auditor_client.post(VERIFY)
    verification = Verification.objects.get()

    response = auditor_client.get(reverse("admin:audit_verification_report", args=[verification.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == (
        f'attachment; filename="cairn-verification-{verification.pk}-{VIN}.dsse.json"'
    )
    envelope = dsse.envelope_from_dict(json.loads(response.content))
    key = ledger_key.current()
    assert envelope.payload_type == "application/vnd.cairn.verification+json"
    assert [signature.keyid for signature in envelope.signatures] == [key.keyid]
    assert dsse.verify_signature(key.public_key, envelope.pae, envelope.signatures[0].sig)
    assert json.loads(envelope.payload)["credit_usd"] == "7500"


def test_claim_page_has_the_graph_and_a_verify_button(chain, auditor_client):
    page = auditor_client.get(reverse("admin:provenance_claim_change", args=[VIN])).content.decode()
    graph = json.loads(page.split('id="cairn-graph-data" type="application/json">')[1].split("</script>")[0])
    colours = {node["data"]["id"]: node["data"]["colour"] for node in graph["nodes"]}
    assert colours[chain["ore"]] == "qualifying"  # AU, an FTA partner
    assert colours[chain["hydroxide"]] == "qualifying"  # JP, the critical minerals agreement
    assert colours[chain["cells"]] == "component"
    assert colours[f"vehicle:{VIN}"] == "vehicle"
    assert {(edge["data"]["source"], edge["data"]["target"]) for edge in graph["edges"]} >= {
        (chain["ore"], chain["hydroxide"]),
        (chain["pack"], f"vehicle:{VIN}"),
    }
    assert 'id="cairn-verify"' in page
    assert "audit/vendor/cytoscape.min.js" in page


def test_integrity_dashboard(chain, auditor_client):
    dashboard = reverse("admin:audit_integrity_dashboard")
    page = auditor_client.get(dashboard).content.decode()
    assert "Latest signed checkpoint" in page
    assert "verifies with the ledger key" in page
    response = auditor_client.post(reverse("admin:audit_integrity_check"))
    assert response["Location"] == dashboard
    assert "incremental" in auditor_client.get(dashboard).content.decode()


def test_admin_index_links_the_auditors_desk(auditor_client):
    page = auditor_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:audit_integrity_dashboard") in page
    assert reverse("admin:provenance_claim_changelist") in page


def test_verifications_are_read_only_even_for_a_superuser(chain, root_client):
    root_client.post(VERIFY)
    verification = Verification.objects.get()
    changelist = reverse("admin:audit_verification_changelist")
    assert VIN in root_client.get(changelist).content.decode()
    assert root_client.get(reverse("admin:audit_verification_add")).status_code == 403
    delete = reverse("admin:audit_verification_delete", args=[verification.pk])
    assert root_client.post(delete, {"post": "yes"}).status_code == 403
    assert Verification.objects.filter(pk=verification.pk).exists()


def test_the_graph_has_a_text_alternative_on_the_claim_and_verdict_pages(chain, auditor_client):
    """WCAG 1.1.1: the canvas is an image with a summary, and the batches are listed in words."""
    summary = (
        "4 batches from 3 countries (AU, JP, US): 2 qualifying, 0 not qualifying, "
        "0 by a foreign entity of concern, 2 components"
    )
    auditor_client.post(VERIFY)
    pages = [
        auditor_client.get(reverse("admin:provenance_claim_change", args=[VIN])).content.decode(),
        auditor_client.get(verdict_url(Verification.objects.get())).content.decode(),
    ]
    for page in pages:
        assert f'role="img" aria-label="Provenance graph: {summary}"' in page
        assert f"<summary>The graph as a list: {summary}</summary>" in page
        assert f"vehicle {VIN}, assembled in US: the claimed vehicle" in page
