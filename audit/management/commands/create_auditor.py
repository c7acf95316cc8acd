"""python manage.py create_auditor USERNAME [--password PASSWORD] [--org SLUG]"""

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from audit.auditors import GROUP_NAME, create_auditor
from provenance.models import Organization


class Command(BaseCommand):
    help = f"Create (or update) a staff user in the {GROUP_NAME} group: read-only admin, can verify."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", help="Default: asked for on the terminal.")
        parser.add_argument("--org", help="Slug of an organisation with the auditor role to tie the user to.")

    def handle(self, *args, username, password, org, **options):
        organization = None
        if org:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None or not organization.has_role("auditor"):
                raise CommandError(f"{org!r} is not an organisation with the auditor role")
        if password is None and sys.stdin.isatty():
            password = getpass.getpass(f"Password for {username}: ")
        if not password:
            raise CommandError("give --password (or run on a terminal to be asked)")
        user = create_auditor(username, password=password, organization=organization)
        self.stdout.write(f"{user.username} is a staff user in the {GROUP_NAME} group.")
