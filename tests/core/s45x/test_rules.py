"""The §45X rule data document: read strictly, versioned by its own digest, looked up by date."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json

import pytest

from cairn_core.regimes.s45x import rules
from tests.core.s45x.cases import make_rules


def document() -> dict:
    return rules.to_json(make_rules())


def test_the_document_reads_back_as_itself_and_its_version_is_its_digest():
    found = document()
    assert rules.to_json(rules.from_json(found)) == found
    body = {key: value for key, value in found.items() if key != "version"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert found["version"] == hashlib.sha256(canonical.encode("ascii")).hexdigest()


def mutated(path: list, value: object) -> dict:
    changed = copy.deepcopy(document())
    target = changed
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (["thresholds", 0, "percent"], "65", "version"),  # a figure changed, the version not
        (["version"], "ab" * 32, "version"),
        (["regime"], "30d", "regime"),
        (["thresholds", 0, "percent"], 60, "percentage"),
        (["thresholds", 0, "percent"], "101", "above 100"),
        (["thresholds", 0, "confirmed"], "false", "true or false"),
        (["thresholds", 0, "sold_through"], "2027-06-30", "cover"),  # overlaps 2027's row
        (["thresholds", 0, "class"], "battery_pack", "unknown class"),
        (["designations", 0, "kind"], "feoc", "kind"),
        (["designations", 0, "until"], "2024-01-01", "ends before"),
        (["designations", 0, "extra"], 1, "unknown"),
        (["status_date", "rule"], "activity_date", "status_date.rule"),
        (["status_date", "years"], [], "non-empty"),
        (["existing_contract", "sold_before"], "2027-02-30", "real date"),
        (["component_classes", 0, "components"], [], "non-empty"),
        (["component_classes", 1, "components"], ["battery_cell"], "two classes"),
        (["thresholds"], KeyError, "missing"),
    ],
)
def test_a_document_off_the_layout_is_refused(path, value, reason):
    with pytest.raises(rules.RulesError, match=reason):
        rules.from_json(mutated(path, value))


def test_thresholds_are_looked_up_by_class_and_date_sold():
    ruleset = make_rules()
    assert ruleset.threshold("battery_cell", dt.date(2026, 12, 31)).percent == 60
    assert ruleset.threshold("battery_cell", dt.date(2027, 1, 1)).percent == 65
    assert ruleset.threshold("battery_cell", dt.date(2041, 5, 1)).percent == 85
    assert ruleset.threshold("critical_mineral", dt.date(2029, 12, 31)).percent == 0
    assert ruleset.threshold("critical_mineral", dt.date(2030, 1, 1)).percent == 25
    assert ruleset.threshold("battery_cell", dt.date(2025, 12, 31)) is None


def test_components_map_to_their_classes():
    ruleset = make_rules()
    assert ruleset.component_class("cathode_electrode").name == "electrode_active_material"
    assert ruleset.component_class("battery_module").name == "battery_module"
    assert ruleset.component_class("battery_pack") is None


def test_a_designation_applies_from_its_start_until_the_day_before_its_end():
    ruleset = make_rules(
        designations=(
            rules.Designation(
                "x-corp", "X", "specified", "list", dt.date(2026, 3, 1), dt.date(2027, 12, 31), rules.Sourced("s", True)
            ),
        )
    )
    assert [ruleset.designations_of("x-corp", year) != [] for year in (2025, 2026, 2027)] == [False, True, False]
    assert ruleset.designations_of("y-corp", 2026) == []
