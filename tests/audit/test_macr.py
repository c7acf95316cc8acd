"""A component batch's §45X verdict from the ledger (audit.macr): the evidence the
core's computation needs, gathered from the log; the endpoint and the command."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from audit import macr
from provenance.errors import LedgerError
from provenance.rule_changes import record_current
from tests.support import MACR_CELLS, tamper

pytestmark = pytest.mark.django_db
CELLS = MACR_CELLS


def test_sixty_percent_passes_in_2026_and_the_same_mix_fails_if_sold_in_2027(cells):
    """$100 of direct materials, $40 attributed to PFEs: 60%, at 2026's 60% a pass, under 2027's 65% a fail."""
    found = macr.macr_verdict(cells, 2026)
    assert (found["outcome"], found["integrity"], found["macr"]["percent_shown"]) == ("pass", "intact", "60.00")
    assert found["threshold"]["percent"] == "60" and found["threshold"]["confirmed"] is False
    assert found["year_sold"]["year"] == 2026 and found["year_sold"]["sale"]["sold_on"] == "2026-11-30"
    by_batch = {item["batch"]: item for item in found["inputs"]}
    assert set(by_batch) == {"kansai-refining:cam-1", "pilbara-mining:graphite-1"}
    assert "missing_certification" in by_batch["pilbara-mining:graphite-1"]["reasons"]
    assert by_batch["kansai-refining:cam-1"]["reasons"] == []
    assert found["rules_version"] == macr.rule_data.document()["version"]
    what_if = macr.macr_verdict(cells, 2026, sold_year=2027)
    assert (what_if["outcome"], what_if["threshold"]["percent"]) == ("fail", "65")


def test_the_verdict_is_incomplete_before_a_checkpoint_covers_the_evidence(cells):
    tamper("DELETE FROM provenance_checkpoint")
    found = macr.macr_verdict(cells, 2026)
    assert (found["outcome"], found["integrity"]) == ("incomplete", "broken") and found["problems"]


def test_rule_data_changed_without_its_entry_is_refused(cells):
    record_current(reason="after the migrations", source="the data migrations", by="tester")
    tamper("UPDATE material_assistance_macrthreshold SET percent = 50 WHERE percent = 60")
    with pytest.raises(LedgerError) as refused:
        macr.macr_verdict(cells, 2026)
    assert refused.value.code == "unavailable"


def test_auditors_and_the_taxpayer_read_the_verdict_others_do_not(api, cells, maker, miner, auditor):
    url = f"/api/v1/batches/{CELLS}/macr"
    for party in (auditor, maker):
        response = api.get(url, {"year": "2026"}, **party.auth)
        assert response.status_code == 200 and response.json()["outcome"] == "pass"
    assert api.get(url, {"year": "2026", "sold_year": "2027"}, **maker.auth).json()["outcome"] == "fail"
    refused = api.get(url, {"year": "2026"}, **miner.auth)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    missing = api.get("/api/v1/batches/detroit-cells:nothing/macr", {"year": "2026"}, **auditor.auth)
    assert missing.status_code == 404
    for query in ({}, {"year": "26"}, {"year": "２０２６"}, {"year": "2026", "sold_year": "x"}):
        response = api.get(url, query, **maker.auth)
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request", query


def test_the_command_prints_the_verdict(cells):
    out = io.StringIO()
    call_command("macr_verdict", CELLS, "--year", "2026", "--sold-year", "2027", stdout=out)
    document = json.loads(out.getvalue())
    assert (document["batch"], document["outcome"]) == (CELLS, "fail")
