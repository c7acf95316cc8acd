"""The Auditors group: view everything, change nothing, run verifications."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from agreements.models import TradeAgreement
from audit.auditors import GROUP_NAME, ensure_auditors_group

pytestmark = pytest.mark.django_db


def test_the_group_exists_after_migrate_with_view_permissions_only():
    group = Group.objects.get(name=GROUP_NAME)
    codenames = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert ("provenance", "view_entry") in codenames
    assert ("agreements", "view_tradeagreement") in codenames
    assert ("audit", "view_verification") in codenames
    assert ("audit", "view_integrityincident") in codenames
    assert ("audit", "run_verification") in codenames
    assert not [code for _app, code in codenames if code.split("_")[0] in ("add", "change", "delete")]


def test_ensuring_the_group_twice_changes_nothing():
    before = set(Group.objects.get(name=GROUP_NAME).permissions.values_list("pk", flat=True))
    ensure_auditors_group()
    assert set(ensure_auditors_group().permissions.values_list("pk", flat=True)) == before
    assert Group.objects.filter(name=GROUP_NAME).count() == 1


def test_an_auditor_views_but_cannot_change(chain, auditor_client, auditor_user):
    assert auditor_user.has_perm("audit.run_verification")
    assert auditor_client.get(reverse("admin:provenance_entry_changelist")).status_code == 200
    agreement = reverse("admin:agreements_tradeagreement_change", args=["us-au-fta"])
    assert auditor_client.get(agreement).status_code == 200
    title = TradeAgreement.objects.get(slug="us-au-fta").title
    assert auditor_client.post(agreement, {"title": "changed"}).status_code == 403
    assert TradeAgreement.objects.get(slug="us-au-fta").title == title
    add = reverse("admin:agreements_tradeagreement_add")
    assert auditor_client.get(add).status_code == 403


def test_create_auditor_command(django_user_model):
    call_command("create_auditor", "carol", "--password", "a-long-test-password")
    user = django_user_model.objects.get(username="carol")
    assert user.is_staff and not user.is_superuser
    assert user.check_password("a-long-test-password")
    assert user.groups.filter(name=GROUP_NAME).exists()
