"""The proof bundle (contract §8): built by the server, checked by `cairn-verify` alone.

The demo's claims are verified and their bundles exported once per module;
each is then checked by `cairn-verify` run as a separate process in a
virtualenv that has only the core package installed (no Django), and by
single changes that an examiner must see named.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from audit import bundle
from audit.auditors import create_auditor
from audit.models import Verification
from cairn_core import bundle as bundles
from cairn_core import dsse, signed_note, verify_cli
from cairn_core.ledger_entries import LEDGER_PAYLOAD_TYPE
from cairn_core.regimes.s30d import bundle as bundle_30d
from demo import data as demo
from provenance import ledger_key
from provenance.errors import LedgerError
from provenance.models import Checkpoint, Entry, EntryType
from tests.support import claim, simple_chain

ROOT = Path(__file__).resolve().parents[2]
VIN = "5YJ3E1EA0PF000042"


# --- the demo's bundles, made once --------------------------------------------------


PINNED: dict[str, str] = {}


@pytest.fixture(scope="module")
def pinned_log_key(demo_bundles) -> list[str]:
    """`--log-key <the ledger's verifier>` (the demo's bundles carry no cosignatures)."""
    return ["--log-key", PINNED["log_key"]]


@pytest.fixture(scope="module")
def demo_bundles(django_db_setup, django_db_blocker, tmp_path_factory) -> dict[str, Path]:
    """Every demo claim's bundle as a file, from a demo loaded and verified then rolled back."""
    directory = tmp_path_factory.mktemp("bundles")
    with django_db_blocker.unblock(), override_settings(VAR_DIR=directory / "var"), transaction.atomic():
        call_command("load_demo", "--verify", stdout=io.StringIO())
        # The key an examiner is handed out of band: GET /log/key's verifier.
        PINNED["log_key"] = ledger_key.current().verifier
        files = {}
        for spec in demo.CLAIMS:
            path = directory / f"{spec.vin}.cairn-bundle.json"
            call_command("export_bundle", spec.vin, "-o", str(path), stderr=io.StringIO())
            files[spec.vin] = path
        transaction.set_rollback(True)
    return files


@pytest.fixture(scope="module")
def core_only_python(tmp_path_factory) -> Path:
    """A virtualenv with `pip install ./core` and nothing else of Cairn's."""
    home = tmp_path_factory.mktemp("core-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    python = home / "bin" / "python"
    source = tmp_path_factory.mktemp("core-source") / "core"
    shutil.copytree(ROOT / "core", source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        check=True,
        env=env,
        timeout=600,
    )
    return python


def run_verifier(python: Path, *args: str) -> subprocess.CompletedProcess:
    cli = python.parent / "cairn-verify"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=120, cwd=python.parent, env=env)


def test_the_core_only_virtualenv_has_no_django(core_only_python):
    assert subprocess.run([core_only_python, "-c", "import django"], capture_output=True).returncode != 0
    found = subprocess.run([core_only_python, "-c", "import cairn_core.bundle"], capture_output=True)
    assert found.returncode == 0, found.stderr


def test_every_demo_claim_s_bundle_verifies_with_the_core_package_alone(demo_bundles, core_only_python, pinned_log_key):
    assert len(demo_bundles) == len(demo.CLAIMS) >= 12
    for vin, path in demo_bundles.items():
        done = run_verifier(core_only_python, str(path), *pinned_log_key)
        assert done.returncode == 0, (vin, done.stdout, done.stderr)
        assert f"Cairn proof bundle for VIN {vin}" in done.stdout
        assert "VERIFIED: every entry is signed, chained and in the signed log" in done.stdout
        expected = next(spec.expected_credit for spec in demo.CLAIMS if spec.vin == vin)
        assert f"credit ${int(expected):,}" in done.stdout
        # Contract §12: keys, organisations and rules from the log, and the verdict in it.
        document = load(path)
        kinds = {payload["type"] for payload in ledger_payloads(document).values()}
        assert kinds == {"key_registered", "organization", "rules"}, (vin, kinds)
        assert document["verdict_entry"]["index"] >= int(document["checkpoint"].split("\n")[1])
        assert "Ledger entries in the bundle:" in done.stdout and "Verdict entry: index" in done.stdout
        assert "Note:" not in done.stdout


def test_json_output_and_exit_2_for_a_file_that_is_not_a_bundle(
    demo_bundles, core_only_python, tmp_path, pinned_log_key
):
    vin, path = next(iter(demo_bundles.items()))
    done = run_verifier(core_only_python, "--json", str(path), *pinned_log_key)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == 0 and result["trusted"] is True
    assert result["vin"] == vin and result["failures"] == []
    assert result["recomputed"]["credit_usd"] == result["verdict"]["credit_usd"]
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}')
    assert run_verifier(core_only_python, str(other)).returncode == 2
    assert run_verifier(core_only_python, str(tmp_path / "missing.json")).returncode == 2


# --- single changes: the verifier exits 1 and names each ------------------------------


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def demo_bundle(demo_bundles) -> dict:
    """A demo claim's bundle (each has origins, transforms, a transfer and the claim)."""
    return load(next(iter(demo_bundles.values())))


def by_type(document: dict, kind: str | None) -> list[int]:
    """The positions of the attestations of `kind` (None: every attestation; ledger entries are not)."""
    positions = []
    for position, entry in enumerate(document["entries"]):
        envelope = json.loads(entry["leaf_input"])["envelope"]
        if envelope["payloadType"] == LEDGER_PAYLOAD_TYPE:
            continue
        if kind is None or json.loads(base64.b64decode(envelope["payload"]))["type"] == kind:
            positions.append(position)
    return positions


def ledger_payloads(document: dict) -> dict[int, dict]:
    """The bundle's ledger entries (contract §12) by index: their payloads."""
    found = {}
    for entry in document["entries"]:
        envelope = json.loads(entry["leaf_input"])["envelope"]
        if envelope["payloadType"] == LEDGER_PAYLOAD_TYPE:
            found[entry["index"]] = json.loads(base64.b64decode(envelope["payload"]))
    return found


def flip_base64(text: str, at: int = 0) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return text[:at] + alphabet[(alphabet.index(text[at]) + 1) % 64] + text[at + 1 :]


def leaf_byte(document):
    entry = document["entries"][3]
    entry["leaf_input"] = entry["leaf_input"].replace('"integrated_time":', '"integrated_time": ', 1)
    return f"entry {entry['index']}: inclusion: the inclusion path does not lead to the root"


def proof_hash(document):
    entry = document["entries"][5]
    lines = entry["proof"].split("\n")
    lines[2] = flip_base64(lines[2])
    entry["proof"] = "\n".join(lines)
    return f"entry {entry['index']}: inclusion: the inclusion path does not lead to the root"


def checkpoint_signature(document):
    head, _, signature = document["checkpoint"].rpartition(" ")
    document["checkpoint"] = f"{head} {flip_base64(signature, 10)}"
    return "checkpoint_signature: not signed by the log key"


def report_signature(document):
    signature = document["verdict"]["report"]["signatures"][0]
    signature["sig"] = flip_base64(signature["sig"], 5)
    return "report: the report is not signed by the log key"


def verdict_figure(document):
    minerals = document["verdict"]["requirements"]["critical_minerals"]
    minerals["qualifying_pct"] = "99.99"
    return "report: the report's payload is not the verdict without its report"


def rule_date(document):
    document["rules"]["agreements"][0]["counts_from"] = "2020-01-01"
    return "rules: the rule data is not the data the verdict applied (SHA-256 differs)"


def revocation_before_an_entry(document):
    claim_entry = document["entries"][by_type(document, "claim")[0]]
    leaf = json.loads(claim_entry["leaf_input"])
    keyid = leaf["envelope"]["signatures"][0]["keyid"]
    key = next(key for key in document["keys"] if key["keyid"] == keyid)
    moment = dt.datetime.fromtimestamp(leaf["integrated_time"] - 1, dt.UTC)
    key["revoked_at"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Key validity is the ledger entries' (contract §12): the row that disagrees with them is named.
    return f'keys: key {keyid}: revoked_at is "{key["revoked_at"]}", its ledger entries say null'


def entry_dropped(document):
    position = by_type(document, "origin")[0]
    dropped = document["entries"].pop(position)
    return f"prev {json_entry_hash(dropped)} names no entry of the bundle"


def json_entry_hash(entry: dict) -> str:
    envelope = json.loads(entry["leaf_input"])["envelope"]
    return hashlib.sha256(dsse.pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))).hexdigest()


def entries_swapped(document):
    entries = document["entries"]
    entries[1], entries[2] = entries[2], entries[1]
    return f"entry {entries[2]['index']}: entries: entries are not sorted by index, each index once"


def organization_country(document):
    issuer = sorted(document["verdict"]["applied"]["issuer_countries"])[0]
    org = next(org for org in document["organizations"] if org["slug"] == issuer)
    was, org["country"] = org["country"], "CN" if org["country"] != "CN" else "US"
    # The countries are the organisation entries' (contract §12): the row that disagrees is named.
    logged = max(i for i, p in ledger_payloads(document).items() if p["type"] == "organization" and p["slug"] == issuer)
    return f'organizations: organisation {issuer}: country is "{org["country"]}", its entry {logged} says "{was}"'


def percentage_row(document):
    document["rules"]["percentages"][0]["critical_minerals_pct"] = "1"
    return "rules: the rule data is not the data the verdict applied (SHA-256 differs)"


def the_vin(document):
    document["vin"] = "1HGCM82633A004352"
    return "verdict: the bundle is for VIN 1HGCM82633A004352"


def key_entry_dropped(document):
    index, payload = next((i, p) for i, p in ledger_payloads(document).items() if p["type"] == "key_registered")
    document["entries"] = [entry for entry in document["entries"] if entry["index"] != index]
    return f"keys: key {payload['keyid']}: no key_registered entry for it in the bundle"


def organization_entry_dropped(document):
    index, payload = next((i, p) for i, p in ledger_payloads(document).items() if p["type"] == "organization")
    document["entries"] = [entry for entry in document["entries"] if entry["index"] != index]
    return f"organizations: organisation {payload['slug']}: no organization entry for it in the bundle"


def rules_entry_dropped(document):
    index = next(i for i, p in ledger_payloads(document).items() if p["type"] == "rules")
    document["entries"] = [entry for entry in document["entries"] if entry["index"] != index]
    return "is not a logged rules entry's"


def verdict_entry_dropped(document):
    del document["verdict_entry"]
    return "verdict_entry: the bundle carries ledger entries but not the verdict's own entry"


def verdict_entry_consistency(document):
    section = document["verdict_entry"]
    section["consistency"][-1] = flip_base64(section["consistency"][-1])
    return "verdict_entry: the consistency proof does not show checkpoint"


def verdict_entry_proof(document):
    section = document["verdict_entry"]
    lines = section["proof"].split("\n")
    lines[2] = flip_base64(lines[2])
    section["proof"] = "\n".join(lines)
    return f"entry {section['index']}: verdict_entry: inclusion: the inclusion path does not lead to the root"


def log_key(document):
    other = dsse.raw_public_key(Ed25519PrivateKey.generate())
    document["log"]["public_key"] = dsse.b64encode(other)
    document["log"]["verifier"] = signed_note.verifier_string(document["log"]["origin"], other)
    return "is not the pinned log key"


MUTATIONS = [
    leaf_byte,
    proof_hash,
    checkpoint_signature,
    report_signature,
    verdict_figure,
    rule_date,
    revocation_before_an_entry,
    entry_dropped,
    entries_swapped,
    organization_country,
    percentage_row,
    the_vin,
    log_key,
    key_entry_dropped,
    organization_entry_dropped,
    rules_entry_dropped,
    verdict_entry_dropped,
    verdict_entry_consistency,
    verdict_entry_proof,
]


@pytest.mark.parametrize("mutate", MUTATIONS, ids=[mutation.__name__ for mutation in MUTATIONS])
def test_one_change_and_the_verifier_exits_1_naming_it(demo_bundles, mutate, tmp_path, capsys, pinned_log_key):
    document = demo_bundle(demo_bundles)
    expected = mutate(document)
    path = tmp_path / "changed.cairn-bundle.json"
    path.write_text(json.dumps(document))
    assert verify_cli.main([str(path), *pinned_log_key]) == 1
    report = capsys.readouterr().out
    assert "NOT VERIFIED" in report
    failed = [line.strip().removeprefix("FAIL ") for line in report.splitlines() if line.strip().startswith("FAIL ")]
    assert any(expected in line for line in failed), (expected, failed)


def test_a_changed_bundle_fails_in_the_core_only_virtualenv_too(
    demo_bundles, core_only_python, tmp_path, pinned_log_key
):
    document = demo_bundle(demo_bundles)
    expected = the_vin(document)
    path = tmp_path / "changed.cairn-bundle.json"
    path.write_text(json.dumps(document))
    done = run_verifier(core_only_python, str(path), *pinned_log_key)
    assert done.returncode == 1 and expected in done.stdout


# --- the server's side: API, command, admin ---------------------------------------------

pytestmark = pytest.mark.django_db


@pytest.fixture
def verified(ledger, miner, refiner, maker, verify):
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    return verify(VIN)


def test_an_auditor_downloads_the_bundle_of_a_verification(api, auditor, verified):
    response = api.get(f"/api/v1/verifications/{verified.pk}/bundle", **auditor.auth)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.cairn.bundle+json"
    assert response["Content-Disposition"] == f'attachment; filename="{VIN}.{verified.pk}.cairn-bundle.json"'
    document = json.loads(response.content)
    read = api.get(f"/api/v1/verifications/{verified.pk}", **auditor.auth).json()
    assert {**document["verdict"], "integrity_warnings": []} == read
    assert document["checkpoint"] == verified.checkpoint
    assert [entry["index"] for entry in document["entries"]] == sorted(
        {entry["index"] for entry in document["entries"]}
    )
    result = bundle_30d.verify(document)
    assert result.verified, [failure.line for failure in result.failures]
    assert result.entries == len(document["entries"])
    # Every attestation up to the claim (the simple chain is all upstream of it), and the ledger entries beside.
    attestations = Entry.objects.filter(index__lte=verified.claim_index).exclude(type=EntryType.LEDGER)
    assert result.entries - result.ledger_entries == attestations.count() == len(by_type(document, None))
    assert result.ledger_entries > 0 and result.verdict_entry is not None


def test_only_auditors_read_bundles_and_unknown_ids_are_not_found(api, auditor, maker, verified):
    assert api.get(f"/api/v1/verifications/{verified.pk}/bundle", **maker.auth).json()["error"]["code"] == (
        "role_not_allowed"
    )
    missing = api.get(f"/api/v1/verifications/{verified.pk + 1}/bundle", **auditor.auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_verification_made_before_bundles_existed_is_refused_with_the_reason(verified):
    """Verdicts stored before v1.1 do not sign their rule data: the bundle could not prove it."""
    applied = {key: value for key, value in verified.verdict["applied"].items() if key != "rules_sha256"}
    verified.verdict = {**verified.verdict, "applied": applied}
    with pytest.raises(LedgerError, match="predates proof bundles") as refused:
        bundle.build_bundle(verified)
    assert refused.value.code == "bad_request"


def test_export_bundle_writes_the_file_of_the_latest_verification(verified, verify, tmp_path):
    newer = verify(VIN)
    path = tmp_path / "out.json"
    call_command("export_bundle", VIN, "-o", str(path), stderr=io.StringIO())
    document = json.loads(path.read_bytes())
    assert document["verdict"]["id"] == newer.pk and bundle_30d.verify(document).verified
    with pytest.raises(CommandError, match="No claim for VIN"):
        call_command("export_bundle", "1HGCM82633A004352", stderr=io.StringIO())


def test_export_bundle_of_a_claim_never_verified_says_so(ledger, miner, refiner, maker):
    pack = simple_chain(ledger, miner, refiner, maker)
    claim(ledger, maker, pack, VIN)
    with pytest.raises(CommandError, match="has not been verified yet"):
        call_command("export_bundle", VIN, stderr=io.StringIO())


def test_the_verdict_page_offers_the_bundle(client, verified):
    client.force_login(create_auditor("examiner", password="a-long-test-password"))
    page = client.get(f"/admin/audit/verification/{verified.pk}/change/")
    assert page.status_code == 200
    assert b'id="cairn-download-bundle"' in page.content and b"Download proof bundle" in page.content
    download = client.get(f"/admin/audit/verification/{verified.pk}/bundle/")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{VIN}.{verified.pk}.cairn-bundle.json"'
    assert bundle_30d.verify(json.loads(download.content)).verified


def test_the_command_and_the_api_give_the_same_bytes(api, auditor, verified, tmp_path):
    path = tmp_path / "cmd.json"
    call_command("export_bundle", VIN, "-o", str(path), stderr=io.StringIO())
    response = api.get(f"/api/v1/verifications/{verified.pk}/bundle", **auditor.auth)
    assert path.read_bytes() == response.content


def test_a_gzip_bundle_verifies_and_the_api_compresses_for_clients_that_accept_it(api, auditor, verified, tmp_path):
    path = tmp_path / f"{VIN}.cairn-bundle.json.gz"
    call_command("export_bundle", VIN, "-o", str(path), stderr=io.StringIO())
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert verify_cli.main([str(path), "--log-key", ledger_key.current().verifier]) == 0
    url = f"/api/v1/verifications/{verified.pk}/bundle"
    compressed = api.get(url, HTTP_ACCEPT_ENCODING="gzip", **auditor.auth)
    assert compressed["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed.content) == api.get(url, **auditor.auth).content


# --- the ledger entries the verdict relies on, and the verdict's own (contract §8, §12) ----------


def test_the_bundle_carries_the_ledger_entries_the_verdict_relies_on(verified):
    document = bundle.build_bundle(verified)
    logged = ledger_payloads(document)
    assert all(index < verified.checkpoint_size for index in logged)
    registered = {p["keyid"] for p in logged.values() if p["type"] == "key_registered"}
    assert registered == {key["keyid"] for key in document["keys"]}
    organizations = {p["slug"]: p for p in logged.values() if p["type"] == "organization"}
    assert set(organizations) == {org["slug"] for org in document["organizations"]}
    for org in document["organizations"]:
        payload = organizations[org["slug"]]
        assert org == {key: payload[key] for key in ("slug", "name", "country", "roles")}
    (rules_entry,) = [p for p in logged.values() if p["type"] == "rules"]
    assert rules_entry["sha256"] == document["verdict"]["applied"]["rules_sha256"]
    assert not [p for p in logged.values() if p["type"] not in ("key_registered", "organization", "rules")]


def test_the_bundle_carries_the_verdict_entry_proved_against_a_later_checkpoint(verified):
    entry = Entry.objects.get(type=EntryType.LEDGER, statement__type="verdict", statement__verification=verified.pk)
    assert entry.index >= verified.checkpoint_size  # logged after the verdict was computed
    document = bundle.build_bundle(verified)
    section = document["verdict_entry"]
    later = Checkpoint.objects.filter(tree_size__gt=entry.index).order_by("tree_size").first()
    assert later is not None  # published for the bundle when none covered it
    assert section["index"] == entry.index and section["checkpoint"] == later.note
    assert set(section) == {"index", "leaf_input", "checkpoint", "cosignatures", "proof", "consistency"}
    assert section["proof"].endswith("\n\n" + later.note)
    assert bundle.build_bundle(verified)["verdict_entry"] == section  # the same checkpoint every time
    result = bundle_30d.verify(document, log_key=signed_note.parse_verifier(ledger_key.current().verifier))
    assert result.status == bundles.PASSED, [failure.line for failure in result.failures]
    assert result.verdict_entry is not None and result.verdict_entry.tree_size == later.tree_size
    payload = json.loads(base64.b64decode(json.loads(section["leaf_input"])["envelope"]["payload"]))
    report = base64.b64decode(document["verdict"]["report"]["payload"])
    assert payload["report_sha256"] == hashlib.sha256(report).hexdigest()
    assert payload["verification"] == verified.pk and payload["credit_usd"] == verified.credit_usd


def test_a_verification_with_no_verdict_entry_gets_no_section_and_fails_beside_ledger_entries(verified):
    """A verification the log has no verdict entry for: no section; with ledger entries, that is a failure."""
    unlogged = Verification.objects.get(pk=verified.pk)
    unlogged.pk = verified.pk + 1000  # no verdict entry names this id
    document = bundle.build_bundle(unlogged)
    assert "verdict_entry" not in document
    lines = [failure.line for failure in bundle_30d.verify(document).failures]
    assert "verdict_entry: the bundle carries ledger entries but not the verdict's own entry" in lines
