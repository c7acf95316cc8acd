"""Every admin action declares its permission; an auditor tries each one.

Auditors may view everything and run verifications, nothing else. The test
walks every ModelAdmin registered on the site, finds each action it offers
(its own and the site's, such as "Delete selected"), and, logged in as an
auditor, looks at the changelist's dropdown and posts the action for all
its first row. Each action is replaced by a spy for the post, so an allowed action is
seen to run without its effects, and a refused one is seen not to run.
"""

from __future__ import annotations

import functools
from unittest import mock

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from tests.admin.conftest import VIN
from tests.support import logged_in

# (app_label, model, action) -> may an auditor run it? Every action the
# site offers must be listed here: a new one fails the test until its
# permission for auditors has been decided.
AUDITOR_MAY_RUN = {
    ("agreements", "tradeagreement", "what_if_terminated"): True,  # reads only
    ("agreements", "tradeagreement", "relink_all_entries"): False,  # rewrites the links
    ("provenance", "claim", "verify_selected"): True,
    # the working papers read only
    ("provenance", "claim", "export_csv"): True,
    ("audit", "verification", "export_csv"): True,
    ("audit", "activity", "export_csv"): True,
    ("provenance", "signingkey", "revoke"): False,
}
OUR_APPS = {"provenance", "agreements", "audit"}


def offered_actions():
    """(model_admin, action name, function) for every action of every registered admin."""
    for model, model_admin in admin.site._registry.items():
        for func, name, _description in model_admin._get_base_actions():
            yield model, model_admin, name, func


def key(model, name):
    return (model._meta.app_label, model._meta.model_name, name)


def test_every_action_of_ours_declares_its_permission():
    undeclared = [
        key(model, name)
        for model, _admin, name, func in offered_actions()
        if model._meta.app_label in OUR_APPS and not getattr(func, "allowed_permissions", ())
    ]
    assert undeclared == []


def test_every_action_of_ours_is_in_the_table():
    ours = {key(model, name) for model, _admin, name, _func in offered_actions() if model._meta.app_label in OUR_APPS}
    assert ours - {k for k in ours if k[2] == "delete_selected"} == set(AUDITOR_MAY_RUN)


def spy_on(model_admin, name, func, calls):
    """Replace the action by a recording wrapper that keeps its description and permissions."""

    @functools.wraps(func)
    def spy(*args, **kwargs):
        calls.append(name)

    if name in dict(model_admin.admin_site.actions):
        return mock.patch.dict(model_admin.admin_site._actions, {name: spy})
    return mock.patch.object(type(model_admin), name, spy)


@pytest.mark.django_db
def test_an_auditor_tries_every_action(chain, auditor_user):
    client = logged_in(auditor_user)
    # A verdict and an activity row, to select on their lists.
    client.post(reverse("admin:provenance_claim_verify", args=[VIN]))
    tried = []
    for model, model_admin, name, func in offered_actions():
        try:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        page = client.get(url)
        may_run = AUDITOR_MAY_RUN.get(key(model, name), False)
        if page.status_code == 403:
            assert not may_run, key(model, name)
            continue
        assert page.status_code == 200, key(model, name)
        action_form = page.context["action_form"]  # None when no action is offered
        choices = [value for value, _label in action_form.fields["action"].choices] if action_form else []
        assert (name in choices) == may_run, (key(model, name), choices)

        row = model._default_manager.values_list("pk", flat=True).first()
        if row is None:  # nothing to select: the dropdown is all there is to try
            continue
        calls: list[str] = []
        post = {"action": name, "index": "0", admin.helpers.ACTION_CHECKBOX_NAME: [str(row)]}
        with spy_on(model_admin, name, func, calls):
            response = client.post(url, post, follow=True)
        assert response.status_code in (200, 403), key(model, name)
        assert calls == ([name] if may_run else []), key(model, name)
        if not may_run and choices and response.status_code == 200:
            assert "No action selected." in [str(message) for message in response.context["messages"]]
        tried.append(key(model, name))
    # The auditor reached the pages of every action of ours.
    assert set(AUDITOR_MAY_RUN) <= set(tried)


@pytest.mark.django_db
def test_a_superuser_still_has_the_writes(chain, superuser):
    client = logged_in(superuser)
    page = client.get(reverse("admin:agreements_tradeagreement_changelist"))
    labels = dict(page.context["action_form"].fields["action"].choices)
    assert labels["relink_all_entries"] == "Recompute every entry's agreement links"
    assert labels["what_if_terminated"] == "What if they ended on a date? (runs the engine, stores nothing)"
