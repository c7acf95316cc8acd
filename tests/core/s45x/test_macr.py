"""The material assistance cost ratio, against figures computed by hand.

Every test builds the taxpayer's transform of its direct materials, the
entries that created them (which name the suppliers), the suppliers'
certifications and the sale, and reads the verdict a tax reviewer would
check: MACR = (total direct material costs − costs attributable to
prohibited foreign entities) ÷ total direct material costs.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from cairn_core.problems import Problem
from cairn_core.regimes.s45x import macr, rules
from cairn_core.regimes.s45x import verdict as verdicts
from tests.core.s45x.cases import AS_OF, CELL, STATUS, TAXPAYER, Log, designation, make_rules


def verdict_of(log: Log, year: int = 2026, ruleset: rules.Rules | None = None, **options: object) -> dict:
    return verdicts.verdict_of(
        log.entries, CELL, year, ruleset or make_rules(), log.keys, as_of=AS_OF, checkpoint="a checkpoint", **options
    )


def hundred_forty(sold_on: str | None = "2026-11-30") -> Log:
    """$60 of cathode from a certified KR supplier, $40 of electrolyte from a designated CN one."""
    log = Log()
    log.supply("kr-cathode", "kr-cathode:cam-1")
    log.supply("cn-electrolyte", "cn-electrolyte:el-1")
    log.make_cell({"kr-cathode:cam-1": "60", "cn-electrolyte:el-1": "40"})
    log.certify("kr-cathode", "kr-cathode:cam-1")
    log.certify("cn-electrolyte", "cn-electrolyte:el-1")  # affirmative, but its issuer is designated
    if sold_on:
        log.sell(sold_on)
    return log


def by_batch(found: dict) -> dict[str, dict]:
    return {item["batch"]: item for item in found["inputs"]}


def test_one_hundred_dollars_of_which_forty_from_a_pfe_is_sixty_percent():
    """docs/domain.md's example. Direct materials $60 + $40 = $100; the $40 input's supplier is
    designated a specified foreign entity for 2026, so its whole cost is attributed to PFEs
    (its own certification does not clear it). MACR = (100 − 40) ÷ 100 = 60%. A battery cell
    sold in 2026 needs 60%: 60% is at least 60%, so it passes."""
    found = verdict_of(hundred_forty())
    assert found["totals"] == {"direct_material_cost_usd": "100", "pfe_attributed_usd": "40", "non_pfe_usd": "60"}
    assert found["macr"] == {"ratio": "0.600000000000", "percent_shown": "60.00"}
    assert found["threshold"]["percent"] == "60" and found["threshold"]["confirmed"] is False
    assert found["outcome"] == "pass"
    inputs = by_batch(found)
    assert inputs["cn-electrolyte:el-1"]["reasons"] == ["designated_pfe"]
    assert inputs["cn-electrolyte:el-1"]["designations"][0]["entity"] == "cn-electrolyte"
    assert inputs["kr-cathode:cam-1"]["reasons"] == [] and inputs["kr-cathode:cam-1"]["pfe_attributed_usd"] == "0"
    assert inputs["kr-cathode:cam-1"]["certification"]["index"] == 3
    assert found["taxpayer"] == TAXPAYER and found["component"]["class"]["name"] == "battery_cell"


@pytest.mark.parametrize(
    ("sold_on", "percent", "outcome"),
    [("2026-12-31", "60", "pass"), ("2027-01-01", "65", "fail"), ("2027-12-31", "65", "fail")],
)
def test_the_threshold_steps_up_on_the_first_day_of_2027(sold_on, percent, outcome):
    """The same 60% mix: sold on 2026-12-31 it meets 2026's 60%; sold a day later, 2027's 65%
    applies and 60% < 65% fails. The year sold comes from the sale statement."""
    found = verdict_of(hundred_forty(sold_on))
    assert (found["threshold"]["percent"], found["outcome"]) == (percent, outcome)
    assert found["year_sold"]["source"] == "sale" and found["year_sold"]["sale"]["sold_on"] == sold_on


def test_with_no_sale_the_taxable_year_is_assumed_and_said_to_be():
    found = verdict_of(hundred_forty(sold_on=None))
    assert found["year_sold"] == {"year": 2026, "source": "assumed_taxable_year", "sale": None}
    assert found["threshold"]["percent"] == "60"


def test_a_what_if_year_sold_changes_the_threshold_only():
    found = verdicts.what_if(
        hundred_forty().entries,
        CELL,
        2026,
        make_rules(),
        hundred_forty().keys,
        as_of=AS_OF,
        checkpoint="c",
        year_sold=2027,
    )
    assert (found["macr"]["percent_shown"], found["threshold"]["percent"], found["outcome"]) == ("60.00", "65", "fail")
    assert found["what_if"] == {"year_sold": 2027}


def certified_mix() -> Log:
    """Three certified suppliers: KR $50, JP $30, US $20 (activity on 2026-03-01)."""
    log = Log()
    for supplier in ("kr-cathode", "jp-anode", "us-separator"):
        log.supply(supplier, f"{supplier}:lot-1")
    log.make_cell({"kr-cathode:lot-1": "50", "jp-anode:lot-1": "30", "us-separator:lot-1": "20"})
    for supplier in ("kr-cathode", "jp-anode", "us-separator"):
        log.certify(supplier, f"{supplier}:lot-1")
    log.sell("2026-11-30")
    return log


@pytest.mark.parametrize(
    ("start", "until", "designated", "percent"),
    [
        ("2026-06-01", None, True, "70.00"),  # after the activity, before the year's last day: counts
        ("2026-12-31", None, True, "70.00"),  # designated on the last day itself: counts
        ("2025-01-01", "2026-12-31", False, "100.00"),  # designated at the activity, no longer on the last day
        ("2027-01-01", None, False, "100.00"),  # only from the next year
    ],
)
def test_status_is_judged_on_the_last_day_of_the_taxable_year_not_at_the_activity(start, until, designated, percent):
    """The JP supplier's $30 of $100: designated on 2026-12-31 it is attributed in whole,
    MACR = (100 − 30) ÷ 100 = 70%; not designated on that day, nothing is, MACR = 100%.
    The transform happened on 2026-03-01; that date plays no part."""
    ruleset = make_rules(designations=(designation("jp-anode", start, until),))
    found = verdict_of(certified_mix(), ruleset=ruleset)
    assert found["status_date"]["date"] == "2026-12-31"
    assert found["macr"]["percent_shown"] == percent
    assert ("designated_pfe" in by_batch(found)["jp-anode:lot-1"]["reasons"]) is designated


def test_the_rule_data_may_set_another_status_date_for_a_year_and_the_verdict_says_so():
    """If 2026 is judged on its first day, a designation from 2026-06-01 does not count for it:
    MACR 100%; the status date shown is 2026-01-01 with the year's own (unconfirmed) source."""
    first_day = rules.YearRule(2026, "first_day_of_taxable_year", rules.Sourced("first year after enactment", False))
    status = rules.StatusDate(STATUS.rule, STATUS.sourced, (first_day,))
    ruleset = make_rules(designations=(designation("jp-anode", "2026-06-01"),), status=status)
    found = verdict_of(certified_mix(), ruleset=ruleset)
    assert found["status_date"] == {
        "date": "2026-01-01",
        "rule": "first_day_of_taxable_year",
        "source": "first year after enactment",
        "confirmed": False,
    }
    assert found["macr"]["percent_shown"] == "100.00"


def one_certificate(**options: object) -> dict:
    """KR $50 certified as the case says, JP $30 and US $20 certified properly; the KR input."""
    log = Log()
    for supplier in ("kr-cathode", "jp-anode", "us-separator"):
        log.supply(supplier, f"{supplier}:lot-1")
    log.supply("kr-trader", "kr-trader:lot-9")
    log.make_cell({"kr-cathode:lot-1": "50", "jp-anode:lot-1": "30", "us-separator:lot-1": "20"})
    for supplier in ("jp-anode", "us-separator"):
        log.certify(supplier, f"{supplier}:lot-1")
    issuer = options.pop("issuer", "kr-cathode")
    if options.pop("revoked_key", False):
        options["keyid"] = log.key(issuer, revoked=dt.datetime(2026, 6, 1, tzinfo=dt.UTC), name="-old")
    if options.pop("key_revoked_later", False):
        options["keyid"] = log.key(issuer, revoked=dt.datetime(2027, 6, 1, tzinfo=dt.UTC), name="-later")
    if options.pop("other_org_key", False):
        options["keyid"] = log.key("jp-anode", name="-2")
    log.certify(issuer, "kr-cathode:lot-1", **options)
    log.sell("2026-11-30")
    return verdict_of(log)


@pytest.mark.parametrize(
    ("options", "ignored"),
    [
        ({"issuer": "kr-trader"}, "wrong_party"),  # a reseller is not the supplier that made the batch
        ({"taxpayer": "texas-cells"}, "wrong_taxpayer"),
        ({"year": 2025}, "wrong_year"),
        ({"year": 2027}, "wrong_year"),
        ({"revoked_key": True}, "revoked_key"),  # its key was revoked before the verdict
        ({"other_org_key": True}, "no_issuer_key"),  # signed by another organisation's key only
    ],
)
def test_a_certification_that_does_not_count_leaves_the_input_uncertified(options, ignored):
    """KR's $50 has no certification that counts: attributed in whole, MACR = (100 − 50) ÷ 100
    = 50%, below 2026's 60%. The ignored certification is listed with its reason."""
    found = one_certificate(**options)
    kr = by_batch(found)["kr-cathode:lot-1"]
    assert kr["reasons"] == ["missing_certification"] and kr["certification"] is None
    assert [item["reason"] for item in kr["certifications_ignored"]] == [ignored]
    assert (found["macr"]["percent_shown"], found["outcome"]) == ("50.00", "fail")


def test_a_key_revoked_after_the_verdict_does_not_undo_it():
    found = one_certificate(key_revoked_later=True)
    assert by_batch(found)["kr-cathode:lot-1"]["reasons"] == []
    assert found["macr"]["percent_shown"] == "100.00"


def test_a_contrary_certification_attributes_the_whole_input():
    """KR says its batch was produced by a PFE: $50 attributed, MACR 50%."""
    found = one_certificate(contrary=True)
    assert by_batch(found)["kr-cathode:lot-1"]["reasons"] == ["contrary_certification"]
    assert found["macr"]["percent_shown"] == "50.00"


def test_the_certified_non_pfe_share_attributes_the_rest():
    """KR certifies $200 of its own direct material costs, $150 of them not from a PFE: a quarter
    of the $50 it sold, $12.50, is attributed. MACR = (100 − 12.5) ÷ 100 = 87.5%."""
    found = one_certificate(dmc="200", non_pfe="150")
    kr = by_batch(found)["kr-cathode:lot-1"]
    assert kr["reasons"] == ["certified_pfe_share"] and kr["pfe_attributed_usd"] == "12.5"
    assert kr["non_pfe_share"] == "0.750000000000"
    assert found["macr"] == {"ratio": "0.875000000000", "percent_shown": "87.50"}


def test_a_certification_of_zero_cost_attributes_nothing():
    assert by_batch(one_certificate(dmc="0"))["kr-cathode:lot-1"]["pfe_attributed_usd"] == "0"


def test_a_later_revocation_by_the_supplier_governs():
    """KR certifies, then revokes for the same taxpayer and year: the latest counting one, the
    revocation, governs: $50 attributed (MACR 50%). A later certification restores it."""
    log = certified_mix()
    log.revoke_certification("kr-cathode", "kr-cathode:lot-1")
    found = verdict_of(log)
    kr = by_batch(found)["kr-cathode:lot-1"]
    assert kr["reasons"] == ["revoked_certification"] and kr["certification"]["status"] == "revoked"
    assert found["macr"]["percent_shown"] == "50.00"
    log.certify("kr-cathode", "kr-cathode:lot-1")
    assert verdict_of(log)["macr"]["percent_shown"] == "100.00"


def test_a_revocation_by_the_wrong_party_does_not_undo_a_certification():
    log = certified_mix()
    log.revoke_certification("jp-anode", "kr-cathode:lot-1")
    kr = by_batch(verdict_of(log))["kr-cathode:lot-1"]
    assert kr["reasons"] == [] and kr["certifications_ignored"][0]["reason"] == "wrong_party"


def test_a_missing_cost_makes_the_verdict_incomplete_never_a_pass():
    """Even with every input certified, a cost not given leaves the total unknown: no ratio."""
    log = Log()
    log.supply("kr-cathode", "kr-cathode:lot-1")
    log.supply("jp-anode", "jp-anode:lot-1")
    log.make_cell({"kr-cathode:lot-1": "50", "jp-anode:lot-1": None})
    log.certify("kr-cathode", "kr-cathode:lot-1")
    log.certify("jp-anode", "jp-anode:lot-1")
    found = verdict_of(log)
    assert found["outcome"] == "incomplete" and found["reasons"] == ["evidence: missing_cost"]
    assert found["macr"] is None and found["totals"]["direct_material_cost_usd"] is None
    assert by_batch(found)["jp-anode:lot-1"]["reasons"] == ["missing_cost"]


def test_an_input_of_the_taxpayers_own_production_is_incomplete():
    log = Log()
    log.supply(TAXPAYER, f"{TAXPAYER}:electrode-1")
    log.make_cell({f"{TAXPAYER}:electrode-1": "70"})
    found = verdict_of(log)
    assert (
        found["outcome"] == "incomplete" and "own_production" in by_batch(found)[f"{TAXPAYER}:electrode-1"]["reasons"]
    )


def test_59_9996_percent_is_shown_as_59_99_and_fails_60():
    """KR $10,000 certifies $1,000,000 of its costs, $599,996 not from a PFE: 40.0004% of
    $10,000, $4,000.04, is attributed. MACR = 5,999.96 ÷ 10,000 = 59.9996%: shown truncated,
    "59.99", never "60.00"; and below 60%, a fail."""
    log = Log()
    log.supply("kr-cathode", "kr-cathode:lot-1")
    log.make_cell({"kr-cathode:lot-1": "10000"})
    log.certify("kr-cathode", "kr-cathode:lot-1", dmc="1000000", non_pfe="599996")
    found = verdict_of(log)
    assert found["macr"] == {"ratio": "0.599996000000", "percent_shown": "59.99"}
    assert found["totals"]["pfe_attributed_usd"] == "4000.04" and found["outcome"] == "fail"


def test_a_ratio_just_at_the_threshold_passes_and_shows_it():
    """$3 of which $1.20 attributed (certified share 40%): MACR = 1.8 ÷ 3 = 60% exactly."""
    log = Log()
    log.supply("kr-cathode", "kr-cathode:lot-1")
    log.make_cell({"kr-cathode:lot-1": "3"})
    log.certify("kr-cathode", "kr-cathode:lot-1", dmc="5", non_pfe="3")
    found = verdict_of(log)
    assert (found["macr"]["percent_shown"], found["outcome"]) == ("60.00", "pass")


def test_an_inexact_ratio_is_floored_for_storage_and_the_attribution_rounded_up():
    """$3 of which a third (certified non-PFE share 2/3) is attributed: $1 exactly; and $1 of
    which a third is: $0.333…, shown 0.333333334 (never less PFE than computed), MACR 66.66%."""
    log = Log()
    log.supply("kr-cathode", "kr-cathode:lot-1")
    log.make_cell({"kr-cathode:lot-1": "1"})
    log.certify("kr-cathode", "kr-cathode:lot-1", dmc="3", non_pfe="2")
    found = verdict_of(log)
    assert found["totals"]["pfe_attributed_usd"] == "0.333333334"
    assert found["macr"] == {"ratio": "0.666666666666", "percent_shown": "66.66"}


def test_percent_shown_never_rounds_up_across_a_threshold():
    assert macr.percent_shown(Fraction(599996, 1000000), None) == "59.99"
    assert macr.percent_shown(Fraction(5999999, 10000000), rules.Decimal("60")) == "59.99"
    assert macr.percent_shown(Fraction(6, 10), rules.Decimal("60")) == "60.00"
    # a threshold with more places: as many places as it takes to stand on the right side
    assert macr.percent_shown(Fraction(625049, 1000000), rules.Decimal("62.505")) == "62.50"
    assert macr.percent_shown(Fraction(62505, 100000), rules.Decimal("62.505")) == "62.505"


@pytest.mark.parametrize(
    ("binding", "sold_on", "outcome"),
    [
        ("2025-06-15", "2026-12-31", "excepted"),
        ("2025-06-16", "2026-12-31", "pass"),  # binding on the cut-off day: not before it
        ("2025-06-15", "2027-01-01", "fail"),  # sold too late (and 2027's 65% applies)
        (None, "2026-12-31", "pass"),
    ],
)
def test_the_existing_contract_exception(binding, sold_on, outcome):
    """Binding written contract before 2025-06-16 and sold before 2027-01-01: excepted, and the
    MACR (60%) is still computed and shown."""
    log = hundred_forty(sold_on=None)
    log.sell(sold_on, binding)
    found = verdict_of(log)
    assert found["outcome"] == outcome and found["macr"]["percent_shown"] == "60.00"
    assert found["existing_contract"]["applies"] is (outcome == "excepted")


def test_every_sale_must_be_excepted_and_the_strictest_year_governs():
    log = hundred_forty(sold_on=None)
    log.sell("2026-10-01", "2025-05-01")
    log.sell("2027-02-01", "2025-05-01")
    found = verdict_of(log)
    assert found["existing_contract"]["applies"] is False
    assert (found["year_sold"]["year"], found["threshold"]["percent"], found["outcome"]) == (2027, "65", "fail")


def test_a_component_of_no_eligible_class_is_not_applicable():
    log = Log()
    log.supply("kr-cathode", "kr-cathode:lot-1")
    log.make_cell({"kr-cathode:lot-1": "10"}, component="separator")
    found = verdict_of(log)
    assert found["outcome"] == "not_applicable" and found["component"]["class"] is None
    assert "separator" in found["reasons"][0]


def test_no_threshold_before_2026_is_not_applicable():
    found = verdict_of(hundred_forty("2025-12-31"), year=2025)
    assert found["outcome"] == "not_applicable" and found["threshold"] is None


def test_a_broken_integrity_is_incomplete_whatever_the_ratio():
    found = verdict_of(hundred_forty(), problems=[Problem(2, "bad_signature", "forged")])
    assert (found["integrity"], found["outcome"]) == ("broken", "incomplete")


def test_what_if_a_designation_is_added_or_removed():
    """Designate KR ($60): MACR = (100 − 100) ÷ 100 = 0%, fail. Undesignate CN ($40): 100%."""
    log = hundred_forty()
    added = verdicts.designation("kr-cathode", "KR Cathode", "specified", "a test", dt.date(2026, 1, 1), "what-if")
    found = verdicts.what_if(
        log.entries, CELL, 2026, make_rules(), log.keys, as_of=AS_OF, checkpoint="c", designate=added
    )
    assert (found["macr"]["percent_shown"], found["outcome"]) == ("0.00", "fail")
    assert found["what_if"]["designate"]["entity"] == "kr-cathode"
    removed = verdicts.what_if(
        log.entries, CELL, 2026, make_rules(), log.keys, as_of=AS_OF, checkpoint="c", undesignate="cn-electrolyte"
    )
    assert (removed["macr"]["percent_shown"], removed["outcome"], removed["what_if"]) == (
        "100.00",
        "pass",
        {"undesignate": "cn-electrolyte"},
    )
    assert removed["rules_version"].endswith("-designate:cn-electrolyte")


def test_a_what_if_over_broken_evidence_is_incomplete_like_the_verdict():
    """Undesignating CN alone would pass at 100%; a forged signature in the evidence keeps it incomplete."""
    log, forged = hundred_forty(), [Problem(2, "bad_signature", "forged")]
    whole = verdicts.what_if(
        log.entries, CELL, 2026, make_rules(), log.keys, as_of=AS_OF, checkpoint="c", undesignate="cn-electrolyte"
    )
    assert (whole["outcome"], whole["integrity"]) == ("pass", "intact")
    found = verdicts.what_if(
        log.entries,
        CELL,
        2026,
        make_rules(),
        log.keys,
        as_of=AS_OF,
        checkpoint="c",
        problems=forged,
        undesignate="cn-electrolyte",
    )
    assert (found["outcome"], found["integrity"]) == ("incomplete", "broken")
    assert found["problems"] == [problem.as_dict() for problem in forged]
    assert found["what_if"] == {"undesignate": "cn-electrolyte"}


def test_the_verdict_names_what_it_does_not_check_with_citations():
    found = verdict_of(hundred_forty())
    checks = {item["check"]: item["citation"] for item in found["scope"]["not_checked"]}
    assert {"taxpayer_status", "effective_control", "related_party_sale", "safe_harbor_tables"} <= set(checks)
    assert all(citation for citation in checks.values())
    assert found["rules_version"] == make_rules().version


def test_nothing_creates_the_batch():
    with pytest.raises(macr.EvidenceError):
        verdicts.verdict_of([], CELL, 2026, make_rules(), {}, as_of=AS_OF, checkpoint="c")
