"""create_org (contract §7)."""

import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from provenance import tlog
from provenance.models import Organization


def test_create_org_prints_org_and_a_working_token(db, capsys, api):
    call_command(
        "create_org",
        "salar-brine",
        "--name",
        "Salar Brine",
        "--country",
        "cl",
        "--role",
        "supplier",
        "--role",
        "certifier",
    )
    line = capsys.readouterr().out.strip()
    output = json.loads(line)
    assert set(output) == {"org", "token"} and output["org"] == "salar-brine"
    org = Organization.objects.get(slug="salar-brine")
    assert org.country.code == "CL" and org.roles == ["certifier", "supplier"]
    assert Token.objects.get(key=output["token"]).user.member.organization == org
    # The log holds the organisation's ledger entries (contract §12): ask past its end.
    response = api.get(f"/api/v1/attestations/{tlog.current_size()}", HTTP_AUTHORIZATION=f"Token {output['token']}")
    assert response.status_code == 404  # authenticated, nothing to read


@pytest.mark.parametrize(
    "args",
    [
        ["Bad_Slug", "--name", "x", "--country", "CL", "--role", "supplier"],
        ["good-slug", "--name", "x", "--country", "ZZ", "--role", "supplier"],
    ],
)
def test_create_org_refuses_bad_input(db, args):
    with pytest.raises(CommandError):
        call_command("create_org", *args)
    assert not Organization.objects.exists()


def test_create_org_refuses_an_existing_slug(db):
    call_command("create_org", "dupe-org", "--name", "x", "--country", "US", "--role", "auditor")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_org", "dupe-org", "--name", "x", "--country", "US", "--role", "auditor")
