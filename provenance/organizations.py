"""Creating organisations and their API users."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django_countries import countries
from rest_framework.authtoken.models import Token

from cairn_core.payload import SLUG
from provenance import ledger_entries
from provenance.models import Member, Organization, Role


class OrganizationError(ValueError):
    """The organisation cannot be created as asked."""


def _check(slug: str, country: str, roles: list[str]) -> None:
    if not SLUG.match(slug):
        raise OrganizationError(f"slug must match [a-z0-9][a-z0-9-]{{1,62}}: {slug!r}")
    if country not in dict(countries):
        raise OrganizationError(f"country must be an ISO 3166-1 alpha-2 code: {country!r}")
    unknown = sorted(set(roles) - set(Role.values))
    if not roles or unknown:
        raise OrganizationError(f"roles must be among {', '.join(Role.values)}; got {', '.join(roles) or 'none'}")


def create_organization(*, slug: str, name: str, country: str, roles: list[str]) -> tuple[Organization, Token]:
    """An organisation with one API user and its token (its record logged first)."""
    _check(slug, country, roles)
    with transaction.atomic():
        if Organization.objects.filter(slug=slug).exists():
            raise OrganizationError(f"organisation {slug!r} already exists")
        # The log first (contract §12): the row is a view of its entry.
        ledger_entries.append("organization", ledger_entries.organization_fields(slug, name, country, roles))
        org = Organization.objects.create(slug=slug, name=name, country=country, roles=sorted(set(roles)))
        user = get_user_model().objects.create_user(username=f"{slug}-api")
        Member.objects.create(user=user, organization=org)
        token = Token.objects.create(user=user)
    return org, token


def update_organization(*, slug: str, name: str, country: str, roles: list[str]) -> Organization:
    """Change an organisation's name, country or roles: the whole record is
    logged first (contract §12), then the row follows it."""
    _check(slug, country, roles)
    with transaction.atomic():
        org = Organization.objects.select_for_update().filter(slug=slug).first()
        if org is None:
            raise OrganizationError(f"no organisation {slug!r}")
        ledger_entries.append("organization", ledger_entries.organization_fields(slug, name, country, roles))
        org.name, org.country, org.roles = name, country, sorted(set(roles))
        org.save(update_fields=["name", "country", "roles"])
    return org
