"""Keys, organisations, rule data and verdicts as ledger entries (contract §12),
and the tables as views of them: each change an insider makes with SQL alone
(on PostgreSQL with the triggers bypassed, as `tamper` does) is named by
`verify_ledger` and by the Celery check, as an incident."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from agreements.snapshot import load_ruleset
from audit import checks, ledger_views
from audit.engine import verify_claim
from audit.models import IntegrityIncident, Verification
from cairn_core import dsse, ledger_entries
from cairn_core.problems import Code
from cairn_core.regimes.s30d import ruleset_json
from provenance import ledger_entries as appender
from provenance import ledger_key
from provenance.errors import LedgerError
from provenance.keys import revoke_key
from provenance.models import Entry, EntryType, Organization, SigningKey
from provenance.organizations import update_organization
from provenance.rule_changes import RuleChangeRefused, rule_change
from tests.support import claim, simple_chain, tamper

pytestmark = pytest.mark.django_db
VIN = "5YJ3E1EA0PF000900"


def ledger_statements() -> list[dict]:
    return list(Entry.objects.filter(type=EntryType.LEDGER).order_by("index").values_list("statement", flat=True))


def kinds() -> list[str]:
    return [statement["type"] for statement in ledger_statements()]


def codes(problems) -> set[str]:
    return {problem.code for problem in problems}


def verify_ledger() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_ledger", stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def verified(ledger, miner, refiner, maker, auditor):
    claim(ledger, maker, simple_chain(ledger, miner, refiner, maker), VIN)
    return verify_claim(VIN, requested_by=auditor.user)


# --- what is logged ---------------------------------------------------------------------


def test_organisations_and_keys_are_logged_first_with_the_rules_they_start_with(miner):
    statements = ledger_statements()
    # The first ledger entry of a ledger: the rule data it starts with.
    assert statements[0]["type"] == "rules" and statements[0]["reason"] == appender.BASELINE_REASON
    assert statements[0]["sha256"] == ruleset_json.digest(load_ruleset())
    org = next(item for item in statements if item["type"] == "organization" and item["slug"] == miner.org.slug)
    assert (org["name"], org["country"], org["roles"]) == (miner.org.name, "AU", ["supplier"])
    key = next(item for item in statements if item["type"] == "key_registered" and item["keyid"] == miner.keyid)
    assert key["organization"] == miner.org.slug
    assert dsse.keyid_for(base64.b64decode(key["public_key"])) == miner.keyid


def test_a_ledger_entry_is_signed_by_the_ledger_key_alone(miner):
    entry = Entry.objects.filter(type=EntryType.LEDGER).last()
    envelope = json.loads(entry.envelope)
    assert envelope["payloadType"] == ledger_entries.LEDGER_PAYLOAD_TYPE
    (signature,) = envelope["signatures"]
    key = ledger_key.current()
    assert signature["keyid"] == key.keyid
    payload = base64.b64decode(envelope["payload"])
    assert dsse.verify_signature(
        key.public_key, dsse.pae(envelope["payloadType"], payload), dsse.b64decode(signature["sig"])
    )
    assert ledger_entries.parse(payload) == entry.statement and entry.issuer_id is None


def test_clients_cannot_post_a_ledger_entry(api, miner):
    payload = ledger_entries.payload_bytes({"schema": "cairn.ledger/v1", "type": "rules"})
    envelope = dsse.sign(ledger_entries.LEDGER_PAYLOAD_TYPE, payload, [(miner.keyid, miner.private_key)])
    before = Entry.objects.count()
    response = api.post("/api/v1/attestations", envelope.stored_json(), content_type="application/json", **miner.auth)
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsupported_payload_type"
    assert Entry.objects.count() == before


def test_revocations_changes_and_verdicts_are_logged(verified, miner):
    revoke_key(organization=miner.org, keyid=miner.keyid)
    update_organization(slug=miner.org.slug, name="Renamed", country="CA", roles=["supplier"])
    assert kinds()[-3:] == ["verdict", "key_revoked", "organization"]
    verdict = next(item for item in ledger_statements() if item["type"] == "verdict")
    payload = base64.b64decode(verified.report["payload"])
    assert verdict["verification"] == verified.pk and verdict["credit_usd"] == verified.credit_usd
    assert verdict["report_sha256"] == hashlib.sha256(payload).hexdigest()
    assert ledger_views.check_ledger_tables() == []
    assert verify_ledger()[0] == 0


def test_a_rule_change_is_logged_with_its_reason_and_source_or_refused(verified):
    from agreements.models import FeocRule

    with pytest.raises(RuleChangeRefused), rule_change(reason="", source="Notice 2026-1", by="tester"):
        FeocRule.objects.update(control_threshold_pct=30)
    with rule_change(reason="a test amendment", source="Notice 2026-1", by="tester"):
        rule = FeocRule.objects.get()
        rule.control_threshold_pct = 30
        rule.save()
    logged = ledger_statements()[-1]
    assert (logged["type"], logged["reason"], logged["source"], logged["by"]) == (
        "rules",
        "a test amendment",
        "Notice 2026-1",
        "tester",
    )
    (change,) = logged["changes"]
    assert change["table"] == "feoc" and change["before"]["control_threshold_pct"] == "25"
    assert change["after"]["control_threshold_pct"] == "30"
    assert ledger_views.check_ledger_tables() == []


# --- what an insider changes with SQL, each named ---------------------------------------------


def caught(code: str, *words: str) -> None:
    """verify_ledger exits 1 naming it, and the Celery check records it as an incident."""
    status, report = verify_ledger()
    assert status == 1, report
    assert all(word in report for word in words), report
    checks.run_incremental()
    found = IntegrityIncident.objects.filter(code=code)
    assert found.exists(), list(IntegrityIncident.objects.values_list("code", "message"))
    assert all(any(word in message for message in found.values_list("message", flat=True)) for word in words)


def test_an_unrevoked_key_is_named(verified, miner):
    revoke_key(organization=miner.org, keyid=miner.keyid)
    tamper("UPDATE provenance_signingkey SET revoked_at = NULL WHERE keyid = %s", [miner.keyid])
    caught(Code.KEY_ROW, f"provenance_signingkey row {miner.keyid}: revoked_at is null")


def test_a_revocation_moved_before_an_entry_is_named(verified, miner):
    revoke_key(organization=miner.org, keyid=miner.keyid)
    tamper(
        "UPDATE provenance_signingkey SET revoked_at = %s WHERE keyid = %s",
        ["2020-01-01T00:00:00+00:00", miner.keyid],
    )
    caught(Code.KEY_ROW, "revoked_at is", "2020-01-01")


def test_a_key_added_behind_the_logs_back_is_named(verified, miner):
    tamper(
        "INSERT INTO provenance_signingkey (keyid, organization_id, public_key, registered_at) VALUES (%s, %s, %s, %s)",
        ["ab" * 32, miner.org.slug, bytes(32), "2024-01-01T00:00:00+00:00"],
    )
    caught(Code.KEY_ROW, f"row {'ab' * 32}", "has no key_registered entry")


def test_an_organisations_country_or_roles_changed_are_named(verified, miner):
    tamper("UPDATE provenance_organization SET country = 'US' WHERE slug = %s", [miner.org.slug])
    caught(Code.ORGANIZATION_ROW, f'provenance_organization row {miner.org.slug}: country is "US"')


def test_an_organisations_roles_changed_are_named(verified, miner):
    roles = json.dumps(["manufacturer", "supplier"])
    tamper("UPDATE provenance_organization SET roles = %s WHERE slug = %s", [roles, miner.org.slug])
    caught(Code.ORGANIZATION_ROW, f"row {miner.org.slug}: roles is")


def test_a_deleted_verification_is_named(verified):
    tamper("DELETE FROM audit_verification WHERE id = %s", [verified.pk])
    caught(Code.VERIFICATION_ROW, f"records verification {verified.pk} of {VIN}, which audit_verification lacks")


def test_a_verifications_credit_or_rules_version_changed_are_named(verified):
    tamper("UPDATE audit_verification SET credit_usd = '0', rules_version = 'rules-x' WHERE id = %s", [verified.pk])
    caught(Code.VERIFICATION_ROW, 'credit_usd is "0"', 'rules_version is "rules-x"')


def test_a_feoc_rule_edited_without_its_entry_is_named_and_refused(verified):
    """The issue's case: CN removed from the covered nations, no history row."""
    tamper("UPDATE agreements_feocrule SET covered_nations = 'KP'")
    caught(Code.RULES_DATA, "it was changed without an entry")
    with pytest.raises(LedgerError) as refused:
        verify_claim(VIN, requested_by=None)
    assert refused.value.code == "unavailable" and "changed without an entry" in refused.value.message
    assert Verification.objects.count() == 1


def test_agreement_parties_edited_without_their_entry_are_named(verified):
    tamper("UPDATE agreements_tradeagreement SET parties = 'US,AU,CN' WHERE slug = 'us-au-fta'")
    caught(Code.RULES_DATA, "changed without an entry")


def test_deleted_rule_history_is_named(verified):
    tamper("DELETE FROM agreements_historicaltradeagreement WHERE slug = 'us-au-fta'")
    caught(Code.RULES_DATA, "changed without an entry")


def test_log_present_state_records_a_ledger_from_before_logging_once(verified, miner):
    """A ledger upgraded from before contract v1.2: its rows had no entries."""
    tamper("DELETE FROM provenance_entry WHERE type = 'ledger'")  # as if they had never been logged
    # (the tree no longer matches those rows: only the tables' comparison matters here)
    out = io.StringIO()
    call_command("log_present_state", stdout=out)
    assert "recorded before logging began" in out.getvalue()
    statements = [item for item in ledger_statements()]
    # The rule data first, each regime's (§30D's, then §45X's), as it stands now.
    assert [item["type"] for item in statements[:2]] == ["rules", "rules"] and statements[1]["regime"] == "45x"
    assert all(item.get("recorded_before_logging") for item in statements[2:])
    assert {item["type"] for item in statements} == {"rules", "organization", "key_registered", "verdict"}
    assert ledger_views.check_ledger_tables() == []
    out = io.StringIO()
    call_command("log_present_state", stdout=out)
    assert "nothing appended" in out.getvalue()


def test_organisation_count_matches(verified):
    logged = {item["slug"] for item in ledger_statements() if item["type"] == "organization"}
    assert logged == set(Organization.objects.values_list("slug", flat=True))
    assert {item["keyid"] for item in ledger_statements() if item["type"] == "key_registered"} == set(
        SigningKey.objects.values_list("keyid", flat=True)
    )
    assert connection.vendor in ("sqlite", "postgresql")


# --- the entries' agreement links: derived from the statements and the logged rules ------------


def agreement_link(index: int) -> tuple[int, str, str]:
    from provenance.models import EntryAgreementLink

    return EntryAgreementLink.objects.filter(entry_id=index).values_list("id", "agreement_id", "mineral").first()


def test_an_agreement_link_deleted_added_or_re_pointed_is_named(verified):
    from provenance.models import EntryAgreementLink

    origin = Entry.objects.filter(type="origin").order_by("index").first()
    link_id, agreement, mineral = agreement_link(origin.index)
    assert agreement == "us-au-fta" and mineral == "lithium"
    tamper("UPDATE provenance_entryagreementlink SET agreement_id = 'us-japan-cma' WHERE id = %s", [link_id])
    caught(Code.AGREEMENT_LINK, "agreement link to us-japan-cma for lithium (AU): the logged rules give no such link")
    tamper("DELETE FROM provenance_entryagreementlink WHERE entry_id = %s", [origin.index])
    assert EntryAgreementLink.objects.filter(entry_id=origin.index).count() == 0
    caught(Code.AGREEMENT_LINK, "no agreement link to us-au-fta for lithium (AU), which the logged rules give")


def test_a_logged_rule_change_relinks_the_entries(verified):
    """Ending the US-Australia FTA through the log: the links follow, no problem."""
    import datetime as dt

    from agreements.models import TradeAgreement

    origin = Entry.objects.filter(type="origin").order_by("index").first()
    with rule_change(reason="end it for the test", source="a test notice", by="tester"):
        TradeAgreement.objects.filter(slug="us-au-fta").update(ends=dt.date(2020, 1, 1))
        agreement = TradeAgreement.objects.get(slug="us-au-fta")
        agreement.save()  # a history row, as the admin writes one
    assert agreement_link(origin.index) is None
    assert verify_ledger()[0] == 0


def test_a_rule_change_relinks_only_the_entries_it_can_move(verified):
    """Ending the US-Japan agreement moves the Japanese refiner's links and
    cannot move an Australian mine's: those are neither recomputed nor
    restamped, and the checks stay clean."""
    import datetime as dt

    from agreements.models import TradeAgreement
    from provenance.models import EntryAgreementLink

    linked = EntryAgreementLink.objects.order_by("id")
    japanese = set(linked.filter(country="JP").values_list("entry_id", flat=True))
    others = list(linked.exclude(country="JP").values())
    assert japanese and others
    with rule_change(reason="end it for the test", source="a test notice", by="tester"):
        TradeAgreement.objects.filter(slug="us-japan-cma").update(ends=dt.date(2020, 1, 1))
    assert not linked.filter(entry_id__in=japanese, agreement_id="us-japan-cma").exists()
    assert list(linked.exclude(country="JP").values()) == others
    assert verify_ledger()[0] == 0
