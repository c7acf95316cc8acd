"""Bundles that carry their ledger entries (contract §8, §12), made by hand, no server.

The claim of tests/core/test_bundle_offline.py (hand-computed: $3,750),
in a ledger of v1.2 that logs its rule data, its organisations and its keys
before the attestations (`OfflineLedger.log_state`: entries 0 to 8), the
chain at 9 to 15, and au-mine's key revoked after the claim (16). The
bundle's checkpoint covers 17 entries; the verdict's own entry is 17,
proved against a checkpoint of 18 (`log_verdict`).

`cairn-verify` must take key validity, countries, roles and the rule
data's digest from those entries, and name every row, rules section or
verdict entry that disagrees with them.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core import bundle, signed_note, verify_cli
from cairn_core.regimes.s30d import bundle as bundle_30d
from cairn_core.regimes.s30d import rules
from tests.agreements.domain import domain_ruleset
from tests.core.offline_bundle import HAND_COMPUTED, ISSUERS, VIN, OfflineLedger, log_chain, rfc3339

CLAIM_INDEX = 15
REVOKED_AT = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
VERDICT = {
    **HAND_COMPUTED,
    "claim_index": CLAIM_INDEX,
    "problems": [{**HAND_COMPUTED["problems"][0], "index": CLAIM_INDEX}],
}


def build(ruleset: rules.RuleSet, *, forged_organization: str | None = None) -> tuple[OfflineLedger, dict]:
    """The ledger and its bundle (no verdict entry yet); `forged_organization`'s entry signed by another key."""
    ledger = OfflineLedger()
    au, idm = ledger.org("au-mine", "AU", "supplier"), ledger.org("id-mine", "ID", "supplier")
    refiner, maker = ledger.org("id-refiner", "ID", "supplier"), ledger.org("detroit-cells", "US", "manufacturer")
    ledger.log_state(domain_ruleset())
    if forged_organization is not None:
        fields = {"slug": forged_organization, "name": "Forged", "country": "US", "roles": ["supplier"]}
        ledger.append_ledger("organization", fields, key=Ed25519PrivateKey.generate())
    log_chain(ledger, au, idm, refiner, maker)
    revoked = ledger.append_ledger("key_revoked", {"organization": au.slug, "keyid": au.keyid}, REVOKED_AT)
    claim_index = revoked - 1
    problems = [{**HAND_COMPUTED["problems"][0], "index": claim_index}]
    document = ledger.bundle(VIN, {**VERDICT, "claim_index": claim_index, "problems": problems}, ISSUERS, ruleset)
    row = next(key for key in document["keys"] if key["organization"] == au.slug)
    row["revoked_at"] = rfc3339(REVOKED_AT)
    return ledger, document


@pytest.fixture(scope="module")
def logged() -> tuple[OfflineLedger, dict]:
    """The genuine ledger and its bundle, the verdict entry included."""
    ledger, document = build(domain_ruleset())
    assert document["verdict"]["claim_index"] == CLAIM_INDEX
    ledger.log_verdict(document)
    return ledger, document


def check(ledger: OfflineLedger, document: dict) -> bundle.Result:
    return bundle_30d.verify(document, log_key=signed_note.parse_verifier(ledger.verifier))


def lines(result: bundle.Result) -> list[str]:
    return [failure.line for failure in result.failures]


def exit_status(ledger: OfflineLedger, document: dict, tmp_path, capsys) -> tuple[int, str]:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document))
    status = verify_cli.main([str(path), "--log-key", ledger.verifier])
    return status, capsys.readouterr().out


# --- the genuine bundle -----------------------------------------------------------------


def test_a_bundle_with_its_ledger_entries_and_verdict_entry_verifies(logged, tmp_path, capsys):
    ledger, document = logged
    result = check(ledger, document)
    assert result.failures == [] and result.status == bundle.PASSED
    assert (result.entries, result.ledger_entries, result.tree_size) == (17, 10, 17)
    assert result.verdict_entry is not None
    assert (result.verdict_entry.index, result.verdict_entry.tree_size) == (17, 18)
    assert result.notes == []
    assert result.recomputed["credit_usd"] == "3750"
    status, out = exit_status(ledger, document, tmp_path, capsys)
    assert status == 0, out
    assert "Ledger entries in the bundle: 10; key validity, countries, roles and the rule data's digest" in out
    assert "Verdict entry: index 17, in the log-signed checkpoint of 18 entries" in out
    assert "VERIFIED" in out and "Note:" not in out


def test_a_bundle_from_before_v1_2_verifies_with_notes_saying_what_is_not_in_the_log(tmp_path, capsys):
    """No ledger entry and no verdict entry: checked with the bundle's own lists, as before, and said so."""
    ledger = OfflineLedger()
    au, idm = ledger.org("au-mine", "AU", "supplier"), ledger.org("id-mine", "ID", "supplier")
    refiner, maker = ledger.org("id-refiner", "ID", "supplier"), ledger.org("detroit-cells", "US", "manufacturer")
    log_chain(ledger, au, idm, refiner, maker)
    document = ledger.bundle(VIN, {**VERDICT, "claim_index": 6, "problems": HAND_COMPUTED["problems"]}, ISSUERS,
                             domain_ruleset())  # fmt: skip
    result = check(ledger, document)
    assert result.failures == [] and result.status == bundle.PASSED
    assert result.notes == [bundle.NOTE_OWN_LISTS, bundle.NOTE_NO_VERDICT_ENTRY]
    status, out = exit_status(ledger, document, tmp_path, capsys)
    assert status == 0
    assert f"Note: {bundle.NOTE_OWN_LISTS}" in out and f"Note: {bundle.NOTE_NO_VERDICT_ENTRY}" in out


# --- each disagreement with the log is named, and exits 1 ------------------------------


def assert_fails(ledger: OfflineLedger, document: dict, expected: str, tmp_path, capsys) -> bundle.Result:
    result = check(ledger, document)
    assert expected in lines(result), lines(result)
    status, out = exit_status(ledger, document, tmp_path, capsys)
    assert status == 1 and "NOT VERIFIED" in out
    return result


def key_row(document: dict, organization: str) -> dict:
    return next(key for key in document["keys"] if key["organization"] == organization)


def test_a_key_row_whose_revocation_is_not_its_key_revoked_entry_s_is_named(logged, tmp_path, capsys):
    ledger, document = logged
    document = copy.deepcopy(document)
    key_row(document, "au-mine")["revoked_at"] = "2030-01-01T00:00:00Z"
    keyid = ledger.orgs["au-mine"].keyid
    expected = f'keys: key {keyid}: revoked_at is "2030-01-01T00:00:00Z", its ledger entries say "2025-06-01T00:00:00Z"'
    assert_fails(ledger, document, expected, tmp_path, capsys)


def test_a_key_row_that_hides_a_logged_revocation_is_named(logged, tmp_path, capsys):
    ledger, document = logged
    document = copy.deepcopy(document)
    key_row(document, "au-mine")["revoked_at"] = None
    keyid = ledger.orgs["au-mine"].keyid
    expected = f'keys: key {keyid}: revoked_at is null, its ledger entries say "2025-06-01T00:00:00Z"'
    assert_fails(ledger, document, expected, tmp_path, capsys)


def test_key_validity_is_the_entries_not_the_rows(logged, tmp_path, capsys):
    """A row that says the key was registered long before its entry does not make it valid earlier."""
    ledger, document = logged
    document = copy.deepcopy(document)
    key_row(document, "id-refiner")["registered_at"] = "2020-01-01T00:00:00Z"
    keyid = ledger.orgs["id-refiner"].keyid
    expected = (
        f'keys: key {keyid}: registered_at is "2020-01-01T00:00:00Z", its ledger entries say "2024-01-01T00:00:00Z"'
    )
    assert_fails(ledger, document, expected, tmp_path, capsys)


def test_a_key_row_with_no_key_registered_entry_in_the_bundle_is_named(logged, tmp_path, capsys):
    ledger, document = logged
    document = copy.deepcopy(document)
    refiner = ledger.orgs["id-refiner"]
    registered = {"type": "key_registered", "keyid": refiner.keyid}
    document["entries"] = [
        entry for entry in document["entries"] if not registered.items() <= (ledger_payload(entry) or {}).items()
    ]
    assert len(document["entries"]) == 16
    result = assert_fails(
        ledger, document, f"keys: key {refiner.keyid}: no key_registered entry for it in the bundle", tmp_path, capsys
    )
    # With no entry, the key is unknown: what it signed does not verify.
    assert f"entry 11: unknown_key: no registered key {refiner.keyid}" in lines(result)


def ledger_payload(entry: dict) -> dict | None:
    """A bundle entry's ledger payload (contract §12), decoded; None for an attestation."""
    envelope = json.loads(entry["leaf_input"])["envelope"]
    if envelope["payloadType"] != "application/vnd.cairn.ledger+json":
        return None
    return json.loads(base64.b64decode(envelope["payload"]))


def test_an_organisation_row_is_checked_against_its_entry_and_the_entry_s_country_is_used(logged, tmp_path, capsys):
    ledger, document = logged
    document = copy.deepcopy(document)
    row = next(org for org in document["organizations"] if org["slug"] == "id-mine")
    row["country"] = "AU"  # an FTA country: the nickel would qualify, were the row believed
    result = assert_fails(
        ledger,
        document,
        'organizations: organisation id-mine: country is "AU", its entry 3 says "ID"',
        tmp_path,
        capsys,
    )
    assert [failure.check for failure in result.failures] == ["organizations"]
    assert result.recomputed["applied"]["issuer_countries"]["id-mine"] == "ID"
    assert result.recomputed["credit_usd"] == "3750"


def test_an_organisation_row_with_other_roles_is_named(logged, tmp_path, capsys):
    ledger, document = logged
    document = copy.deepcopy(document)
    next(org for org in document["organizations"] if org["slug"] == "au-mine")["roles"] = ["certifier"]
    expected = 'organizations: organisation au-mine: roles is ["certifier"], its entry 1 says ["supplier"]'
    assert_fails(ledger, document, expected, tmp_path, capsys)


def test_rule_data_that_no_rules_entry_logged_is_named(tmp_path, capsys):
    """The verdict applied rule data of its own (signed, recomputed alike): the log never recorded it."""
    unlogged = dataclasses.replace(domain_ruleset(), version="unlogged-edit")
    ledger, document = build(unlogged)
    ledger.log_verdict(document)
    digest = document["verdict"]["applied"]["rules_sha256"]
    result = assert_fails(
        ledger, document, f"rules: the rule data (SHA-256 {digest}) is not a logged rules entry's", tmp_path, capsys
    )
    assert [failure.check for failure in result.failures] == ["rules"]


def test_a_verdict_entry_with_another_credit_is_named(tmp_path, capsys):
    ledger, document = build(domain_ruleset())
    index = ledger.log_verdict(document, credit_usd="7500")
    expected = f'entry {index}: verdict_entry: credit_usd: logged "7500", the verdict\'s "3750"'
    assert_fails(ledger, document, expected, tmp_path, capsys)


def test_a_verdict_entry_for_another_report_is_named(tmp_path, capsys):
    ledger, document = build(domain_ruleset())
    index = ledger.log_verdict(document, report_sha256="0" * 64)
    result = check(ledger, document)
    assert any(line.startswith(f"entry {index}: verdict_entry: report_sha256: logged") for line in lines(result))


def flip_hash(text: str, at: int = 0) -> str:
    """Base64 text with the character at `at` changed."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return text[:at] + alphabet[(alphabet.index(text[at]) + 1) % 64] + text[at + 1 :]


def test_a_verdict_entry_whose_inclusion_proof_is_broken_is_named(logged, tmp_path, capsys):
    ledger, document = logged
    document = copy.deepcopy(document)
    section = document["verdict_entry"]
    proof = section["proof"].split("\n")
    proof[2] = flip_hash(proof[2])
    section["proof"] = "\n".join(proof)
    expected = "entry 17: verdict_entry: inclusion: the inclusion path does not lead to the root of checkpoint 18"
    assert_fails(ledger, document, expected, tmp_path, capsys)


def test_a_verdict_entry_whose_consistency_proof_is_broken_is_named(logged, tmp_path, capsys):
    ledger, document = logged
    document = copy.deepcopy(document)
    section = document["verdict_entry"]
    section["consistency"][0] = flip_hash(section["consistency"][0])
    expected = "verdict_entry: the consistency proof does not show checkpoint 18 extends the verdict's checkpoint 17"
    assert_fails(ledger, document, expected, tmp_path, capsys)


def test_a_verdict_entry_in_a_checkpoint_of_another_log_is_named(logged, tmp_path, capsys):
    ledger, document = logged
    document = copy.deepcopy(document)
    section = document["verdict_entry"]
    head, _, signature = section["checkpoint"].rstrip("\n").rpartition(" ")
    section["checkpoint"] = f"{head} {flip_hash(signature, 10)}\n"
    result = check(ledger, document)
    assert any(line.startswith("verdict_entry: its checkpoint is not signed by the log key") for line in lines(result))
    assert exit_status(ledger, document, tmp_path, capsys)[0] == 1


def test_a_bundle_with_ledger_entries_but_no_verdict_entry_fails(logged, tmp_path, capsys):
    ledger, document = logged
    document = {key: value for key, value in copy.deepcopy(document).items() if key != "verdict_entry"}
    expected = "verdict_entry: the bundle carries ledger entries but not the verdict's own entry"
    assert_fails(ledger, document, expected, tmp_path, capsys)


def test_a_ledger_entry_signed_by_another_key_is_named(tmp_path, capsys):
    ledger, document = build(domain_ruleset(), forged_organization="id-mine")
    ledger.log_verdict(document)
    forged = 9  # after log_state's nine entries
    expected = f"entry {forged}: ledger: a ledger entry is signed by the ledger key alone"
    result = assert_fails(ledger, document, expected, tmp_path, capsys)
    # The forged entry is not replayed: id-mine's record stays its genuine one.
    assert result.recomputed["applied"]["issuer_countries"]["id-mine"] == "ID"


def test_the_json_result_carries_the_verdict_entry_and_the_notes(logged, tmp_path, capsys):
    ledger, document = logged
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document))
    assert verify_cli.main([str(path), "--log-key", ledger.verifier, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["ledger_entries"] == 10 and found["notes"] == []
    assert found["verdict_entry"] == {"index": 17, "tree_size": 18, "cosignatures": [], "witnesses": []}
