"""The ledger's admin is read-only for everyone, superusers included."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from provenance import models
from provenance.models import Batch, Checkpoint, Claim, Entry
from tests.admin.conftest import VIN
from tests.support import ledger_snapshot

pytestmark = pytest.mark.django_db

LEDGER_MODELS = [
    models.Organization,
    models.Member,
    models.SigningKey,
    models.Batch,
    models.Entry,
    models.EntrySignature,
    models.BatchLink,
    models.Claim,
    models.LogState,
    models.MerkleNode,
    models.Checkpoint,
]


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda model: model.__name__)
def test_no_add_change_or_delete_even_for_a_superuser(model, superuser):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(request) is True
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request) is False
    assert model_admin.has_delete_permission(request) is False


def first_pk(model):
    return model.objects.order_by("pk").values_list("pk", flat=True).first()


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda model: model.__name__)
def test_pages_show_and_refuse_writes(model, chain, root_client):
    pk = first_pk(model)
    assert root_client.get(url(model, "changelist")).status_code == 200
    assert root_client.get(url(model, "add")).status_code == 403
    before = ledger_snapshot()

    detail = root_client.get(url(model, "change", pk))
    posted = root_client.post(url(model, "change", pk), {})
    deleted = root_client.post(url(model, "delete", pk), {"post": "yes"})

    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert posted.status_code == 403
    assert deleted.status_code == 403
    assert ledger_snapshot() == before


def test_no_delete_selected_action(chain, root_client):
    response = root_client.get(url(Entry, "changelist"))
    assert b"delete_selected" not in response.content


def test_entry_page_shows_the_decoded_payload_and_its_links(chain, root_client):
    claim = Claim.objects.get(vin=VIN)
    page = root_client.get(url(Entry, "change", claim.entry_id)).content.decode()
    assert "&quot;vin&quot;: &quot;1CRNADMNTEST00001&quot;" in page  # pretty-printed payload
    assert url(Batch, "change", chain["pack"]) in page  # batch link
    assert url(Claim, "change", VIN) in page
    assert "detroit-cells" in page  # the signature's organisation


def test_origin_entry_names_the_agreements_it_relies_on(chain, root_client):
    origin = Batch.objects.get(id=chain["ore"]).created_by_id
    page = root_client.get(url(Entry, "change", origin)).content.decode()
    assert reverse("admin:agreements_tradeagreement_change", args=["us-au-fta"]) in page


def test_batch_page_lists_its_hash_chain(chain, root_client):
    batch = Batch.objects.get(id=chain["hydroxide"])
    page = root_client.get(url(Batch, "change", batch.id)).content.decode()
    for index in batch.links.values_list("entry_id", flat=True):
        assert url(Entry, "change", index) in page


def test_checkpoint_page_shows_the_signed_note(chain, root_client):
    checkpoint = Checkpoint.objects.get()
    page = root_client.get(url(Checkpoint, "change", checkpoint.pk)).content.decode()
    assert "— cairn" in page or "&#x2014;" in page or "\u2014" in page


def test_searches_and_filters(chain, root_client):
    assert VIN in root_client.get(url(Claim, "changelist"), {"q": VIN[:8]}).content.decode()
    assert chain["ore"] in root_client.get(url(Batch, "changelist"), {"site_country": "AU"}).content.decode()
    entries = root_client.get(url(Entry, "changelist"), {"type__exact": "claim"}).content.decode()
    assert "claim by detroit-cells" in entries or "detroit-cells" in entries
    assert root_client.get(url(Entry, "changelist"), {"q": "not-a-number"}).status_code == 200


def test_only_a_superuser_may_revoke_a_key(chain, root_client, auditor_client, miner):
    data = {"action": "revoke", "_selected_action": [miner.keyid]}
    auditor_client.post(url(models.SigningKey, "changelist"), data)
    assert models.SigningKey.objects.get(keyid=miner.keyid).revoked_at is None
    root_client.post(url(models.SigningKey, "changelist"), data)
    assert models.SigningKey.objects.get(keyid=miner.keyid).revoked_at is not None
