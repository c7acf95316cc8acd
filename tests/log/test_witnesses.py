"""Witnesses cosign the log's checkpoints (contract §10), against real C2SP witnesses.

Two of Cairn's own witnesses (cairn_core.tlog_witness behind its HTTP
server) run on 127.0.0.1 in this process, each with its own state
directory, trusting the ledger's key; the log asks them over HTTP.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from audit import checkpoint_tasks
from audit.models import IntegrityIncident, Verification
from cairn_core import cosignature
from provenance import checkpoints, ledger_key, witnesses
from provenance.models import Cosignature
from tests.support import RunningWitness, append_bare_leaves, claim, simple_chain, start_witness

pytestmark = pytest.mark.django_db
VIN = "5YJ3E1EA0PF000777"


@pytest.fixture
def two_witnesses(settings, tmp_path) -> Iterator[list[RunningWitness]]:
    running = [start_witness(f"witness.test/w{n}", tmp_path / f"w{n}") for n in (1, 2)]
    settings.LEDGER_WITNESSES = [item.config for item in running]
    settings.LEDGER_WITNESS_QUORUM = 2
    settings.LEDGER_WITNESS_TIMEOUT = 5
    yield running
    for item in running:
        item.stop()


def publish(*arguments: str) -> str:
    out = io.StringIO()
    call_command("publish_checkpoint", *arguments, stdout=out)
    return out.getvalue()


def test_publish_checkpoint_gathers_every_cosignature_and_serves_them(client, two_witnesses):
    append_bare_leaves(5)
    note = publish()
    checkpoint = checkpoints.latest()
    alone, lines = cosignature.split_cosigned(note, checkpoint.note.split("\n")[0])
    assert alone == checkpoint.note and len(lines) == 2
    body = checkpoint.note.split("\n\n")[0] + "\n"
    keys = [cosignature.parse_vkey(item.vkey) for item in two_witnesses]
    assert set(cosignature.verified(body, lines, keys)) == {item.vkey for item in two_witnesses}
    # GET /log/checkpoint serves the ledger's line first, then the cosignatures.
    response = client.get("/api/v1/log/checkpoint")
    assert response.content.decode() == note and response["Cache-Control"] == "no-cache"
    assert client.get("/api/v1/log/witnesses").json() == [
        {"vkey": item.vkey, "url": item.server.url, "latest_cosigned_size": 5} for item in two_witnesses
    ]
    assert [item.latest() for item in two_witnesses] == [5, 5]


def test_a_larger_checkpoint_is_cosigned_from_the_size_last_cosigned(two_witnesses):
    append_bare_leaves(3)
    publish()
    append_bare_leaves(6)  # 9: the witnesses check a consistency proof from 3
    publish()
    assert [item.latest() for item in two_witnesses] == [9, 9]
    assert sorted(Cosignature.objects.values_list("checkpoint_id", flat=True)) == [3, 3, 9, 9]


def test_a_witness_the_log_lost_track_of_is_asked_again_from_the_size_it_names(two_witnesses):
    append_bare_leaves(4)
    checkpoint = checkpoints.publish_checkpoint()
    first = two_witnesses[0]
    # The witness cosigned 4 without the log storing it (an answer lost on the way).
    assert first.witness.add_checkpoint(f"old 0\n\n{checkpoint.note}".encode()).status == 200
    append_bare_leaves(3)
    publish()  # asked from 0: 409 "4", then from 4 with a proof
    assert [item.latest() for item in two_witnesses] == [7, 7]


def test_without_the_quorum_the_command_fails_and_the_checkpoint_stays(settings, two_witnesses):
    two_witnesses[1].stop()
    settings.LEDGER_WITNESS_TIMEOUT = 0.5
    append_bare_leaves(2)
    with pytest.raises(CommandError, match="has 1 of the 2 cosignatures"):
        publish()
    assert checkpoints.latest().tree_size == 2
    assert Cosignature.objects.count() == 1


def test_a_verification_waits_for_the_quorum_or_stores_nothing(
    settings, api, ledger, miner, refiner, maker, auditor, two_witnesses
):
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    two_witnesses[1].stop()
    settings.LEDGER_WITNESS_TIMEOUT = 0.5
    response = api.post("/api/v1/verifications", {"vin": VIN}, content_type="application/json", **auditor.auth)
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "unavailable"
    assert not Verification.objects.exists()
    # One witness is enough when the operator says so: the verdict and its
    # bundle carry that witness's cosignature.
    settings.LEDGER_WITNESS_QUORUM = 1
    response = api.post("/api/v1/verifications", {"vin": VIN}, content_type="application/json", **auditor.auth)
    assert response.status_code == 201, response.content
    verdict = response.json()
    bundle = api.get(f"/api/v1/verifications/{verdict['id']}/bundle", **auditor.auth)
    assert bundle.status_code == 200
    name = f"{VIN}.{verdict['id']}.cairn-bundle.json"
    assert bundle["Content-Disposition"] == f'attachment; filename="{name}"'
    document = json.loads(bundle.content)
    assert document["checkpoint"] == verdict["checkpoint"]
    (line,) = document["cosignatures"]
    body = verdict["checkpoint"].split("\n\n")[0] + "\n"
    cosignature.verify_line(line, body, cosignature.parse_vkey(two_witnesses[0].vkey))


def test_celery_asks_each_witness_in_its_own_task(eager, two_witnesses):
    append_bare_leaves(6)
    assert checkpoint_tasks.publish_checkpoint.delay().get() == 6
    assert Cosignature.objects.filter(checkpoint_id=6).count() == 2


def test_a_witness_holding_another_history_refuses_and_raises_an_incident(eager, two_witnesses):
    """A witness was shown a checkpoint of size 3 with another root (a fork,
    signed with the ledger's key): the real tree cannot be proven consistent
    with it, so it refuses (422) and the log records an incident."""
    append_bare_leaves(5)
    forked = ledger_key.sign_checkpoint(3, bytes(32))
    assert two_witnesses[0].witness.add_checkpoint(f"old 0\n\n{forked}".encode()).status == 200
    checkpoint_tasks.publish_checkpoint.delay().get()
    assert Cosignature.objects.filter(checkpoint_id=5).values_list("witness", flat=True).get() == two_witnesses[1].vkey
    (incident,) = IntegrityIncident.objects.all()
    assert incident.code == "witness" and incident.index == 4
    assert "witness.test/w1 refused checkpoint 5" in incident.message and "422" in incident.message
    assert two_witnesses[0].latest() == 3  # it kept the history it had


def test_a_cosignature_that_does_not_verify_is_not_stored(settings, two_witnesses):
    """A witness configured with another key than the one it signs with."""
    impostor = cosignature.vkey("witness.test/w1", cosignature.public_key_of(Ed25519PrivateKey.generate()))
    settings.LEDGER_WITNESSES = [{"url": two_witnesses[0].server.url, "vkey": impostor}]
    settings.LEDGER_WITNESS_QUORUM = 1
    settings.LEDGER_WITNESS_TIMEOUT = 1
    append_bare_leaves(2)
    with pytest.raises(CommandError, match="has 0 of the 1"):
        publish()
    assert not Cosignature.objects.exists()


def test_malformed_witness_configuration_fails_loudly(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.LEDGER_WITNESSES = [{"url": "http://127.0.0.1:9", "vkey": "not-a-vkey"}]
    with pytest.raises(ImproperlyConfigured, match="LEDGER_WITNESSES"):
        witnesses.configured()
    key = base64.b64encode(b"\x04" + bytes(32)).decode()
    settings.LEDGER_WITNESSES = [{"url": "http://127.0.0.1:9", "vkey": f"w+00000000+{key}"}]
    with pytest.raises(ImproperlyConfigured):
        witnesses.configured()
