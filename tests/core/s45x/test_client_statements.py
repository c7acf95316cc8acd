"""The client fills the `prev` of the §45X statements that name a batch, as it does a transfer's."""

from __future__ import annotations

import pytest

from cairn_core.client import statements
from tests.core.grammar_cases import SALE, SUPPLIER_CERTIFICATION


@pytest.mark.parametrize("document", [SALE, SUPPLIER_CERTIFICATION], ids=["sale", "supplier_certification"])
def test_a_missing_prev_is_named_and_filled(document):
    without = {key: value for key, value in document.items() if key != "prev"}
    assert statements.missing_prevs(without) == [document["batch"]]
    filled = statements.fill_prevs(without, lambda batch: "cd" * 32)
    assert filled["prev"] == "cd" * 32 and statements.missing_prevs(filled) == []
