"""Creating organisations and their API users."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django_countries import countries
from rest_framework.authtoken.models import Token

from cairn_core.payload import SLUG
from provenance.models import Member, Organization, Role


class OrganizationError(ValueError):
    """The organisation cannot be created as asked."""


def create_organization(*, slug: str, name: str, country: str, roles: list[str]) -> tuple[Organization, Token]:
    """An organisation with one API user and its token."""
    if not SLUG.match(slug):
        raise OrganizationError(f"slug must match [a-z0-9][a-z0-9-]{{1,62}}: {slug!r}")
    if country not in dict(countries):
        raise OrganizationError(f"country must be an ISO 3166-1 alpha-2 code: {country!r}")
    unknown = sorted(set(roles) - set(Role.values))
    if not roles or unknown:
        raise OrganizationError(f"roles must be among {', '.join(Role.values)}; got {', '.join(roles) or 'none'}")
    with transaction.atomic():
        if Organization.objects.filter(slug=slug).exists():
            raise OrganizationError(f"organisation {slug!r} already exists")
        org = Organization.objects.create(slug=slug, name=name, country=country, roles=sorted(set(roles)))
        user = get_user_model().objects.create_user(username=f"{slug}-api")
        Member.objects.create(user=user, organization=org)
        token = Token.objects.create(user=user)
    return org, token
