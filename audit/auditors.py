"""The Auditors group: who may read the whole ledger in the admin and run verifications.

Auditors get the view permission on every model of the ledger, the rules
and the audit records, and `audit.run_verification`. They get no add,
change or delete permission; the ledger's admin refuses those to everyone
anyway (provenance.admin).

The group is (re)built after every `migrate` by a post_migrate handler
(connected in audit.apps), so that models added later are covered and a
fresh or flushed database always has it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, transaction

if TYPE_CHECKING:
    from django.apps import AppConfig
    from django.contrib.auth.models import User

    from provenance.models import Organization

GROUP_NAME = "Auditors"
AUDITED_APPS = ("provenance", "agreements", "audit")
RUN_VERIFICATION = "run_verification"
RUN_VERIFICATION_PERM = f"audit.{RUN_VERIFICATION}"


def run_verification_permission(using: str = DEFAULT_DB_ALIAS) -> Permission:
    """audit.run_verification, on the Verification content type."""
    content_type, _ = ContentType.objects.db_manager(using).get_or_create(app_label="audit", model="verification")
    permission, _ = Permission.objects.db_manager(using).get_or_create(
        content_type=content_type,
        codename=RUN_VERIFICATION,
        defaults={"name": "Can run verifications of claims"},
    )
    return permission


def ensure_auditors_group(using: str = DEFAULT_DB_ALIAS) -> Group:
    """Create the group or bring its permissions up to date (idempotent)."""
    with transaction.atomic(using=using):
        group, _ = Group.objects.db_manager(using).get_or_create(name=GROUP_NAME)
        views = Permission.objects.db_manager(using).filter(
            content_type__app_label__in=AUDITED_APPS, codename__startswith="view_"
        )
        respond = Permission.objects.db_manager(using).filter(
            content_type__app_label="audit", codename="respond_to_incident"
        )
        group.permissions.set([*views, *respond, run_verification_permission(using)])
    return group


def on_post_migrate(sender: AppConfig, using: str = DEFAULT_DB_ALIAS, **kwargs: object) -> None:
    """Connected for the audit app, whose post_migrate comes after provenance's and
    agreements' (INSTALLED_APPS order), so their permissions exist by then."""
    ensure_auditors_group(using)


def create_auditor(username: str, *, password: str | None = None, organization: Organization | None = None) -> User:
    """A staff user in the Auditors group (created, or updated if it exists).

    `organization` (one with the auditor role) also ties the user to it, so
    that the same login can use the API in a browser session.
    """
    from provenance.models import Member

    user_model = get_user_model()
    with transaction.atomic():
        user, _ = user_model.objects.get_or_create(username=username)
        user.is_staff = True
        if password:
            user.set_password(password)
        elif not user.has_usable_password():
            user.set_unusable_password()
        user.save()
        user.groups.add(ensure_auditors_group())
        if organization is not None and not Member.objects.filter(user=user).exists():
            Member.objects.create(user=user, organization=organization)
    return user
