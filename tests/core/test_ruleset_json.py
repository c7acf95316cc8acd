"""cairn_core.regimes.s30d.ruleset_json: the bundle's `rules` section is the RuleSet, exactly."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from cairn_core.regimes.s30d import ruleset_json
from tests.agreements.domain import domain_ruleset


def test_a_ruleset_survives_json_unchanged():
    ruleset = domain_ruleset().with_termination("us-japan-cma", dt.date(2025, 6, 1))
    document = json.loads(json.dumps(ruleset_json.to_json(ruleset)))
    assert ruleset_json.from_json(document) == ruleset
    assert ruleset_json.digest(ruleset_json.from_json(document)) == ruleset_json.digest(ruleset)


def test_the_layout_is_plain_json_values():
    document = ruleset_json.to_json(domain_ruleset())
    japan = next(item for item in document["agreements"] if item["slug"] == "us-japan-cma")
    assert japan["parties"] == ["JP", "US"] and japan["counts_from"] == "2023-03-28"
    assert japan["minerals"] == ["cobalt", "graphite", "lithium", "manganese", "nickel"]
    assert document["percentages"][0]["critical_minerals_pct"] == "40"
    assert set(document) >= {"version", "agreements", "percentages", "credit", "feoc", "designations", "minerals"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("agreements", 0, "counts_from"), "2020-01-01"),
        (("percentages", 1, "battery_components_pct"), "59"),
        (("feoc", "covered_nations"), ["CN"]),
        (("credit", "acquired_through"), None),
    ],
)
def test_any_change_changes_the_digest(path, value):
    original = ruleset_json.to_json(domain_ruleset())
    changed = copy.deepcopy(original)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert ruleset_json.json_digest(ruleset_json.to_json(ruleset_json.from_json(changed))) != (
        ruleset_json.json_digest(original)
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda doc: doc.update(surprise=1), "unknown fields"),
        (lambda doc: doc.pop("credit"), "missing credit"),
        (lambda doc: doc["agreements"][0].update(counts_from=20230418), "expected a date"),
        (lambda doc: doc["percentages"][0].update(critical_minerals_pct=40), "expected a decimal string"),
        (lambda doc: doc["agreements"][0].update(covers_all="yes"), "expected true or false"),
        (lambda doc: doc.update(agreements={}), "expected a list"),
    ],
)
def test_a_document_that_is_not_a_ruleset_is_named(change, error):
    document = ruleset_json.to_json(domain_ruleset())
    change(document)
    with pytest.raises(ruleset_json.RulesError, match=error):
        ruleset_json.from_json(document)
