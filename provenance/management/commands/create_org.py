"""python manage.py create_org SLUG --name NAME --country CC --role ROLE [--role ROLE…]"""

import json

from django.core.management.base import BaseCommand, CommandError

from provenance.models import Role
from provenance.organizations import OrganizationError, create_organization


class Command(BaseCommand):
    help = 'Create an organisation with an API user; prints {"org", "token"} as one JSON line.'

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. AU")
        parser.add_argument("--role", action="append", required=True, choices=Role.values, dest="roles")

    def handle(self, *args, slug, name, country, roles, **options):
        try:
            org, token = create_organization(slug=slug, name=name, country=country.upper(), roles=roles)
        except OrganizationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps({"org": org.slug, "token": token.key}))
