"""cairn_core.bundle on a bundle made by hand (tests/core/offline_bundle.py), no server.

The chain: Australian lithium ore (60 kg, 1,000 USD) and Indonesian nickel
ore (120 kg, 3,000 USD) processed together in Indonesia into cathode
material worth 900 USD, transferred to a US cell maker, made into cells
(5,000 USD) and a pack (2,000 USD) in the US, claimed for a vehicle placed
in service on 2025-03-15.

By hand (DOMAIN.md, "The computation"): the 900 of processing is shared by
mineral mass 60 : 120, so lineage (AU ore, lithium) = 1,000 + 300 = 1,300,
qualifying by extraction in an FTA country; (ID ore, nickel) = 3,000 + 600 =
3,600, qualifying by neither. 1,300 / 4,900 = 26.53% against the 60%
required for 2025: not met. Components: 7,000 of 7,000 USD made in North
America, 100% against 60%: met. No FEOC, assembly in the US, acquired
before the credit ended: $3,750.
"""

from __future__ import annotations

import copy
import json

import pytest

from cairn_core import bundle, signed_note, verify_cli
from cairn_core.problems import Problem
from cairn_core.regimes.s30d import bundle as bundle_30d
from tests.agreements.domain import domain_ruleset
from tests.core.offline_bundle import HAND_COMPUTED, ISSUERS, VIN, OfflineLedger, log_chain


@pytest.fixture
def made():
    ledger = OfflineLedger()
    au, idm = ledger.org("au-mine", "AU", "supplier"), ledger.org("id-mine", "ID", "supplier")
    refiner, maker = ledger.org("id-refiner", "ID", "supplier"), ledger.org("detroit-cells", "US", "manufacturer")
    assert log_chain(ledger, au, idm, refiner, maker) == 6
    return ledger, ledger.bundle(VIN, HAND_COMPUTED, ISSUERS, domain_ruleset())


def test_the_hand_computed_verdict_is_what_the_verifier_recomputes(made):
    _ledger, document = made
    result = bundle_30d.verify(document)
    assert result.failures == []
    assert result.verified and result.entries == 7 and result.tree_size == 7
    recomputed = {key: value for key, value in result.recomputed.items() if key in HAND_COMPUTED}
    assert recomputed == HAND_COMPUTED
    assert result.recomputed["applied"]["issuer_countries"] == ISSUERS


def test_a_verdict_that_overstates_the_credit_is_caught_even_when_signed_again(made):
    """An operator with the log key could sign any verdict: the recomputation still disagrees."""
    ledger, document = made
    document = copy.deepcopy(document)
    document["verdict"]["credit_usd"] = "7500"
    document["verdict"]["requirements"]["critical_minerals"].update(met=True, qualifying_pct="60.00")
    ledger.resign_report(document)
    result = bundle_30d.verify(document)
    assert not result.verified
    lines = [failure.line for failure in result.failures]
    assert 'verdict: credit_usd: signed "7500", recomputed "3750"' in lines
    assert any(line.startswith("verdict: requirements.critical_minerals: signed") for line in lines)
    assert not any(line.startswith("report:") for line in lines)


def test_an_entry_signed_by_an_unknown_key_is_named(made):
    _ledger, document = made
    document = copy.deepcopy(document)
    document["keys"] = [key for key in document["keys"] if key["organization"] != "id-refiner"]
    result = bundle_30d.verify(document)
    lines = [failure.line for failure in result.failures]
    assert "entry 2: unknown_key: no registered key " + made[0].orgs["id-refiner"].keyid in lines
    assert "entry 3: issuer_signature: no valid signature by a key of the issuer" in lines


@pytest.mark.parametrize(
    "broken",
    [
        {"bundle": "cairn.bundle/v0"},
        {"entries": {}},
        {"verdict": None},
        {"extra": 1},
    ],
)
def test_a_document_that_is_not_a_bundle_is_refused_as_such(made, broken):
    document = {**made[1], **broken}
    with pytest.raises(bundle.NotABundle):
        bundle_30d.verify(document)


def test_load_refuses_duplicate_keys_and_non_json():
    with pytest.raises(bundle.NotABundle, match="not JSON"):
        bundle.load(b'{"bundle": "cairn.bundle/v1", "bundle": "x"}')
    with pytest.raises(bundle.NotABundle, match="not JSON"):
        bundle.load(b"\xff")
    with pytest.raises(bundle.NotABundle):
        bundle.load(b"[]")


# --- broken verdicts: recomputed, or not checkable offline ---------------------------------

LINK = {"code": "link", "message": "index 3: the stored link's prev is not the signed one", "index": 3}


def broken(document: dict, ledger: OfflineLedger, problems: list[dict], credit: str = "0") -> dict:
    """The bundle with its verdict made broken, listing `problems` too, signed again by the log key."""
    document = copy.deepcopy(document)
    verdict = document["verdict"]
    verdict.update(integrity="broken", credit_usd=credit)
    verdict["problems"] = sorted(verdict["problems"] + problems, key=lambda item: (item["index"], item["code"]))
    ledger.resign_report(document)
    return document


def test_a_broken_verdict_with_a_server_only_problem_verifies_naming_it_not_checkable_offline(made, tmp_path, capsys):
    ledger, document = made
    document = broken(document, ledger, [LINK])
    result = bundle_30d.verify(document, log_key=signed_note.parse_verifier(ledger.verifier))
    assert result.failures == [] and result.status == bundle.PASSED
    assert result.problems_not_checkable == [Problem(3, "link", LINK["message"])]
    assert result.problems_recomputed == []
    assert result.recomputed["integrity"] == "broken" and result.recomputed["credit_usd"] == "0"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document))
    assert verify_cli.main([str(path), "--log-key", ledger.verifier]) == 0
    out = capsys.readouterr().out
    assert "  Integrity problems not checkable offline: 1" in out
    assert f"    index 3: link: {LINK['message']} (needs {bundle.NOT_CHECKABLE_OFFLINE['link']})" in out
    assert verify_cli.main([str(path), "--log-key", ledger.verifier, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["problems"]
    assert listed == {
        "recomputed": [],
        "not_checkable_offline": [{**LINK, "why": bundle.NOT_CHECKABLE_OFFLINE["link"]}],
    }


def test_a_broken_verdict_whose_problems_the_bundle_shows_verifies_them_as_recomputed(made):
    ledger, document = made
    document = copy.deepcopy(document)
    document["keys"] = [key for key in document["keys"] if key["organization"] != "id-refiner"]
    shown = [failure for failure in bundle_30d.verify(document).failures if failure.check in bundle.ENTRY_CODES]
    assert [(failure.index, failure.check) for failure in shown] == [
        (2, "unknown_key"), (2, "issuer_signature"), (3, "unknown_key"), (3, "issuer_signature"),
    ]  # fmt: skip
    listed = [{"code": item.check, "message": item.message, "index": item.index} for item in shown]
    result = bundle_30d.verify(broken(document, ledger, [*listed, LINK]))
    assert result.failures == []
    assert [(item.index, item.code) for item in result.problems_recomputed] == [
        (2, "issuer_signature"), (2, "unknown_key"), (3, "issuer_signature"), (3, "unknown_key"),
    ]  # fmt: skip
    assert [item.code for item in result.problems_not_checkable] == ["link"]


def test_a_broken_verdict_listing_a_checkable_problem_the_bundle_does_not_show_fails(made):
    ledger, document = made
    invented = {"code": "bad_signature", "message": "signature 0 does not verify", "index": 2}
    result = bundle_30d.verify(broken(document, ledger, [invented]))
    assert [failure.line for failure in result.failures] == [
        'verdict: credit_usd: signed "0", recomputed "3750"',
        'verdict: integrity: signed "broken", recomputed "intact"',
        "entry 2: verdict: the verdict lists bad_signature (signature 0 does not verify), "
        "but the bundle does not show it",
    ]


def test_a_broken_verdict_still_gives_no_credit(made):
    ledger, document = made
    result = bundle_30d.verify(broken(document, ledger, [LINK], credit="3750"))
    assert [failure.line for failure in result.failures] == ['verdict: credit_usd: signed "3750", recomputed "0"']


def test_an_intact_verdict_missing_a_problem_the_bundle_shows_fails(made):
    """The offline check finds an unknown key; a verdict that lists nothing is not the bundle's."""
    _ledger, document = made
    document = copy.deepcopy(document)
    document["keys"] = [key for key in document["keys"] if key["organization"] != "id-refiner"]
    result = bundle_30d.verify(document)
    assert result.status == bundle.FAILED
    assert 'verdict: integrity: signed "intact", recomputed "broken"' in [failure.line for failure in result.failures]


def test_the_json_gives_differences_in_full_and_the_report_shortens_them(made, tmp_path, capsys):
    ledger, document = made
    document = copy.deepcopy(document)
    document["verdict"]["agreements"] = ["x" * 300]
    ledger.resign_report(document)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document))
    assert verify_cli.main([str(path), "--log-key", ledger.verifier, "--json"]) == 1
    (failure,) = json.loads(capsys.readouterr().out)["failures"]
    assert failure["field"] == "agreements"
    assert failure["signed"] == ["x" * 300] and failure["recomputed"] == ["us-au-fta"]
    assert failure["message"] == f'agreements: signed ["{"x" * 300}"], recomputed ["us-au-fta"]'
    assert verify_cli.main([str(path), "--log-key", ledger.verifier]) == 1
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  FAIL")]
    assert line == f'  FAIL verdict: agreements: signed ["{"x" * 157}…, recomputed ["us-au-fta"]'


def test_the_file_name_carries_the_verification_id():
    assert bundle_30d.file_name(VIN, 12) == f"{VIN}.12.cairn-bundle.json"
