"""A §45X proof bundle verifies offline, and `cairn-verify` refuses a tampered one.

The bundle is tests/core/s45x/offline45.py's: a US cell maker, suppliers in
KR ($50), JP ($20), CN ($10, designated a PFE for 2026) and the US ($20, no
certification). By hand: attributed = 10 + 20 = $30 of $100, MACR =
(100 − 30) ÷ 100 = 70%, at least 2026's 60%: pass.
"""

from __future__ import annotations

import base64
import copy
import json

import pytest

from cairn_core import bundle, dsse, signed_note, verify_cli
from cairn_core.regimes.s45x import bundle as bundle45
from tests.core.offline_bundle import OfflineLedger
from tests.core.s45x.cases import CN_DESIGNATION, make_rules
from tests.core.s45x.offline45 import build, resign


@pytest.fixture(scope="module")
def made() -> tuple[OfflineLedger, dict]:
    return build(make_rules(designations=(CN_DESIGNATION,)))


def check(document: dict, ledger: OfflineLedger, **options: object) -> bundle45.MacrResult:
    return bundle45.verify(copy.deepcopy(document), log_key=_verifier(ledger), **options)


def _verifier(ledger: OfflineLedger) -> signed_note.Verifier:
    return signed_note.parse_verifier(ledger.verifier)


def test_the_hand_computed_verdict_is_the_signed_one(made):
    _ledger, document = made
    verdict = document["verdict"]
    assert verdict["totals"] == {"direct_material_cost_usd": "100", "pfe_attributed_usd": "30", "non_pfe_usd": "70"}
    assert (verdict["macr"]["percent_shown"], verdict["threshold"]["percent"], verdict["outcome"]) == (
        "70.00",
        "60",
        "pass",
    )
    reasons = {item["supplier"]: item["reasons"] for item in verdict["inputs"]}
    assert reasons == {
        "kr-cathode": [],
        "jp-anode": [],
        "cn-electrolyte": ["designated_pfe"],
        "us-separator": ["missing_certification"],
    }


def test_the_bundle_verifies_against_the_pinned_log_key(made):
    ledger, document = made
    result = check(document, ledger)
    assert result.failures == [] and result.status == bundle.PASSED
    assert result.ledger_entries > 0 and result.verdict_entry is not None
    assert result.recomputed["macr"] == document["verdict"]["macr"]


def run(tmp_path, document: dict, *args: str) -> int:
    path = tmp_path / "cell.cairn-bundle.json"
    path.write_text(json.dumps(document))
    return verify_cli.main([str(path), *args])


def test_cairn_verify_dispatches_on_the_regime(made, tmp_path, capsys):
    ledger, document = made
    assert run(tmp_path, document, "--log-key", ledger.verifier) == 0
    out = capsys.readouterr().out
    assert "IRC §45X" in out and "MACR: 70.00%" in out and "VERIFIED" in out
    assert run(tmp_path, document) == 3  # no pinned key: every check passed, nothing anchors it
    assert "UNANCHORED" in capsys.readouterr().out
    assert run(tmp_path, document, "--log-key", ledger.verifier, "--json") == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "pass"


def test_an_unknown_regime_is_not_a_bundle(made, tmp_path, capsys):
    ledger, document = made
    assert run(tmp_path, {**document, "regime": "48e"}, "--log-key", ledger.verifier) == 2
    assert "48e" in capsys.readouterr().err
    assert run(tmp_path, {**document, "regime": 45}, "--log-key", ledger.verifier) == 2


def entry_payload(document: dict, kind: str) -> tuple[dict, dict]:
    """The bundle entry of the first statement of `kind`, and its payload."""
    for row in document["entries"]:
        envelope = json.loads(row["leaf_input"])["envelope"]
        payload = json.loads(base64.b64decode(envelope["payload"]))
        if payload.get("type") == kind:
            return row, payload
    raise LookupError(kind)


def test_a_changed_cost_fails(made, tmp_path):
    """The maker's transform says $10 for the CN electrolyte; raised to $90 in the bundle, the
    leaf no longer hashes to the proof's leaf, its signature no longer verifies, and the verdict
    recomputed from it is not the signed one."""
    ledger, document = made
    changed = copy.deepcopy(document)
    row, payload = entry_payload(changed, "transform")
    payload["inputs"][2]["direct_material_cost_usd"] = "90"
    leaf = json.loads(row["leaf_input"])
    leaf["envelope"]["payload"] = dsse.b64encode(json.dumps(payload).encode())
    row["leaf_input"] = json.dumps(leaf, sort_keys=True, separators=(",", ":"))
    result = check(changed, ledger)
    checks = {failure.check for failure in result.failures}
    assert {"inclusion", "bad_signature", "verdict"} <= checks
    assert run(tmp_path, changed, "--log-key", ledger.verifier) == 1


def test_a_dropped_certification_fails(made, tmp_path):
    """Without KR's certification the recomputed verdict attributes its $50 too (MACR 20%)."""
    ledger, document = made
    changed = copy.deepcopy(document)
    row, _payload = entry_payload(changed, "supplier_certification")
    changed["entries"].remove(row)
    result = check(changed, ledger)
    assert any(failure.check == "verdict" and failure.message.startswith("macr") for failure in result.failures)
    assert result.recomputed["macr"]["percent_shown"] == "20.00"
    assert run(tmp_path, changed, "--log-key", ledger.verifier) == 1


def test_a_verdict_changed_and_signed_again_fails_on_recomputation(made):
    """An operator with the log key who says "pass" of a worse mix is caught by the recomputation."""
    ledger, document = made
    changed = copy.deepcopy(document)
    changed["verdict"]["totals"]["pfe_attributed_usd"] = "20"
    resign(ledger, changed)
    fields = {failure.detail[0] for failure in check(changed, ledger).failures if failure.detail}
    assert "totals.pfe_attributed_usd" in fields


def test_a_forged_key_fails(made, tmp_path):
    """KR's keys row swapped for a forger's key: no key_registered entry in the log backs it."""
    ledger, document = made
    forger = OfflineLedger().org("kr-cathode", "KR", "supplier")
    changed = copy.deepcopy(document)
    for row in changed["keys"]:
        if row["organization"] == "kr-cathode":
            row["public_key"] = dsse.b64encode(forger.public_key)
            row["keyid"] = forger.keyid
    result = check(changed, ledger)
    assert any(failure.check == "keys" for failure in result.failures)
    assert run(tmp_path, changed, "--log-key", ledger.verifier) == 1


def test_a_certification_signed_by_a_forged_key_fails(made, tmp_path):
    """A forger adds the missing US certification, signed by a key of its own, with another
    entry's proof: the key is no key of the log's, and the entry is not in the signed log."""
    ledger, document = made
    forger = OfflineLedger().org("us-separator", "US", "supplier")
    changed = copy.deepcopy(document)
    row, payload = entry_payload(changed, "supplier_certification")
    forged = {**payload, "issuer": "us-separator", "batch": "us-separator:sep-1"}
    envelope = dsse.sign(
        "application/vnd.cairn.attestation+json", json.dumps(forged).encode(), [(forger.keyid, forger.key)]
    )
    leaf = {"envelope": envelope.to_stored(), "integrated_time": json.loads(row["leaf_input"])["integrated_time"]}
    row["leaf_input"] = json.dumps(leaf, sort_keys=True, separators=(",", ":"))
    checks = {failure.check for failure in check(changed, ledger).failures}
    assert {"unknown_key", "inclusion"} <= checks
    assert run(tmp_path, changed, "--log-key", ledger.verifier) == 1


def test_a_bundle_under_another_log_key_fails_against_the_pinned_one(made, tmp_path):
    ledger, document = made
    other = OfflineLedger()
    assert run(tmp_path, document, "--log-key", other.verifier) == 1


def test_the_missing_certification_is_shown_and_recomputed(made):
    ledger, document = made
    us = next(item for item in document["verdict"]["inputs"] if item["supplier"] == "us-separator")
    assert us["certification"] is None and us["pfe_attributed_usd"] == "20"
    assert check(document, ledger).passed


def test_the_signed_report_alone(made, tmp_path, capsys):
    ledger, document = made
    path = tmp_path / "report.json"
    path.write_text(json.dumps(document["verdict"]))
    assert verify_cli.main(["--report", str(path), "--log-key", ledger.verifier]) == 0
    assert "IRC §45X" in capsys.readouterr().out
    assert verify_cli.main(["--report", str(path)]) == 3
    broken = {**document["verdict"], "outcome": "maybe"}
    path.write_text(json.dumps(broken))
    assert verify_cli.main(["--report", str(path), "--log-key", ledger.verifier]) == 1


@pytest.mark.parametrize(
    "change",
    [{"taxable_year": True}, {"taxable_year": "2026"}, {"batch": None}, {"vin": "5YJ3E1EA0PF000777"}, {"rules": []}],
    ids=["year-bool", "year-string", "batch-null", "a-vin-section", "rules-list"],
)
def test_a_bundle_off_the_shape_is_exit_2(made, tmp_path, capsys, change):
    ledger, document = made
    assert run(tmp_path, {**document, **change}, "--log-key", ledger.verifier) == 2
    assert "not a Cairn proof bundle" in capsys.readouterr().err


def test_a_bundle_for_another_year_than_its_verdict_fails(made, tmp_path):
    ledger, document = made
    result = check({**document, "taxable_year": 2027}, ledger)
    assert any("taxable_year 2027" in failure.message for failure in result.failures)
    assert run(tmp_path, {**document, "taxable_year": 2027}, "--log-key", ledger.verifier) == 1
