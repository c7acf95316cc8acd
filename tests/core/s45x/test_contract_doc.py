"""docs/contract-45x.md's examples are what the core reads: each statement parses under the
grammar, the rule data reads (its version is its digest), the verdict has the shape a report
check asks of it, and the examples/ files are the same statements."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cairn_core import bundle, payload
from cairn_core.regimes.s45x import bundle as bundle45
from cairn_core.regimes.s45x import rules

ROOT = Path(__file__).resolve().parents[3]
PAGE = (ROOT / "docs" / "contract-45x.md").read_text()
BLOCKS = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", PAGE, re.DOTALL) if "…" not in block]


def test_every_statement_example_parses_under_the_grammar():
    statements = [block for block in BLOCKS if block.get("schema") == payload.SCHEMA]
    kinds = [payload.parse_statement(json.dumps(block).encode()).type for block in statements]
    assert kinds == ["transform", "supplier_certification", "supplier_certification", "sale"]
    transform = payload.parse_statement(json.dumps(statements[0]).encode())
    assert all(item.direct_material_cost_usd is not None for item in transform.inputs)


def test_the_rule_data_example_reads_and_the_verdict_names_its_version():
    (document,) = [block for block in BLOCKS if "component_classes" in block]
    version = rules.from_json(document).version
    (verdict,) = [block for block in BLOCKS if block.get("regime") == "45x" and "outcome" in block]
    assert verdict["rules_version"] == version


def test_the_verdict_example_has_the_verdicts_shape():
    (verdict,) = [block for block in BLOCKS if block.get("regime") == "45x" and "outcome" in block]
    found = bundle.ReportResult(verdict, [])
    bundle45.check_report_shape(verdict, found)
    assert found.failures == []


@pytest.mark.parametrize("kind", ["supplier_certification", "sale"])
def test_the_examples_directory_holds_the_pages_statements(kind):
    example = json.loads((ROOT / "examples" / "statements" / f"{kind}.json").read_text())
    assert example in BLOCKS
