"""A §45X verdict in words (audit.macr_text): the figures as the verdict gives them, never more.

The documents are the core's (cairn_core.regimes.s45x.verdict.build) over a
hand-made computation, so that each sentence is checked against figures
worked out by hand. No database.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from audit import macr_text
from cairn_core.regimes.s45x import macr, verdict
from cairn_core.regimes.s45x.rules import ComponentClass, Designation, Sourced, from_json, version_of

RULES = {
    "regime": "45x",
    "component_classes": [
        {"class": "battery_cell", "components": ["battery_cell"], "source": "IRC §45X", "confirmed": True}
    ],
    "thresholds": [
        {
            "class": "battery_cell",
            "sold_from": "2026-01-01",
            "sold_through": "2026-12-31",
            "percent": "60",
            "source": "§7701(a)(52)(C)",
            "confirmed": False,
        }
    ],
    "designations": [],
    "status_date": {"rule": "last_day_of_taxable_year", "source": "secondary", "confirmed": False},
    "existing_contract": {
        "binding_before": "2025-06-16",
        "sold_before": "2027-01-01",
        "source": "IRC §45X",
        "confirmed": True,
    },
}


def rules():
    return from_json({**RULES, "version": version_of(RULES)})


def computed(total: str, attributed: Fraction, *, inputs=(), sales=(), incomplete=()) -> macr.Macr:
    creator = macr.Logged(7, "ab" * 32, 0, {"issuer": "detroit-cells"}, ())
    ratio = (Fraction(Decimal(total)) - attributed) / Fraction(Decimal(total)) if not incomplete else None
    return macr.Macr(
        batch="detroit-cells:cells-1",
        component="battery_cell",
        component_class=ComponentClass("battery_cell", ("battery_cell",), Sourced("IRC §45X", True)),
        taxpayer="detroit-cells",
        taxable_year=2026,
        creator=creator,
        inputs=tuple(inputs),
        sales=tuple(sales),
        total=Decimal(total),
        attributed=attributed,
        ratio=ratio,
        incomplete=tuple(incomplete),
    )


def document(result: macr.Macr) -> dict:
    return verdict.build(result, rules(), checkpoint="")


def test_a_ratio_just_under_the_threshold_is_told_as_the_core_shows_it():
    """$10,000 with $4,000.04 attributed: (10,000 - 4,000.04) / 10,000 = 59.9996%, shown 59.99%, a fail."""
    said = macr_text.outcome_sentence(document(computed("10000", Fraction("4000.04"))))
    assert said == (
        "Fail: 59.99% of the direct material costs ($5,999.96 of $10,000) are not attributed to prohibited "
        "foreign entities, below the 60% a battery cell sold in 2026 must reach."
    )


def test_the_forty_dollars_of_a_hundred_pass_at_sixty_percent():
    """$100 with $40 attributed: 60%, at least 60%."""
    said = macr_text.outcome_sentence(document(computed("100", Fraction(40))))
    assert said.startswith("Pass: 60.00% of the direct material costs ($60 of $100)")
    assert "assumed: no sale is logged" in macr_text.year_sold_text(document(computed("100", Fraction(40))))


def test_an_excepted_batch_names_the_cut_offs():
    sale = macr.Sale(9, "cd" * 32, dt.date(2026, 3, 1), dt.date(2025, 5, 30), Decimal(1))
    said = macr_text.outcome_sentence(document(computed("100", Fraction(50), sales=[sale])))
    assert said.startswith(
        "Excepted: every sale of the batch is under a binding written contract finalised before 2025-06-16"
    )
    assert "(50.00% of the direct material costs ($50 of $100)" in said


def test_an_input_designated_and_certified_says_the_designation_decides():
    designation = Designation(
        "cn-electrolyte", "CN Electrolyte", "specified", "a list", dt.date(2026, 9, 1), None, Sourced("a list", False)
    )
    use = macr.CertificationUse(12, "ef" * 32, "cn-electrolyte", "detroit-cells", 2026, "certified", "")
    item = macr.InputResult(
        "cn-electrolyte:el-1", "cn-electrolyte", 5, "12" * 32, Decimal(15), Fraction(15), ("designated_pfe",),
        (designation,), use, (use,), Fraction(1),
    )  # fmt: skip
    found = document(computed("100", Fraction(15), inputs=[item]))
    said = macr_text.input_story(found["inputs"][0], found, {"cn-electrolyte": "CN Electrolyte"})
    assert [line.entry for line in said] == [None, 12]
    assert "from 2026-09-01, so it is one on 2026-12-31, the status date of 2026" in said[0].text
    assert "(unconfirmed)" in said[0].text
    assert said[1].text == "Its certification, entry #12, does not clear it: the designation decides."


def test_amounts_keep_every_digit_the_verdict_gives():
    assert macr_text.usd("4000.000000001") == "$4,000.000000001"
    assert macr_text.usd("38900") == "$38,900"
    assert macr_text.percent("0.599999999999") == "59.99%"
