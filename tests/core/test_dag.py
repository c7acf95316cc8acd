"""Attribution factors over the batch DAG, computed by hand."""

from decimal import Decimal as D

from cairn_core.dag import Graph, Step, attribution_factors, decimal_str


def test_split_then_merge_attributes_by_output_share_and_input_fraction():
    # ore (1000 kg) is split 600/400; both halves, plus 200 kg of brine,
    # are merged into 100 kg of hydroxide, of which the target takes all.
    split = Step(1, {"ore": D(1000)}, {"a": D(600), "b": D(400)})
    merge = Step(2, {"a": D(300), "b": D(400), "brine": D(200)}, {"lioh": D(100)})
    graph = Graph(
        quantities={"ore": D(1000), "a": D(600), "b": D(400), "brine": D(500), "lioh": D(100)},
        made_by={"a": split, "b": split, "lioh": merge},
    )
    factors = attribution_factors(graph, "lioh")
    assert factors["a"] == D("0.5")  # 300 of 600
    assert factors["b"] == D(1)
    assert factors["brine"] == D("0.4")
    # ore: via a 0.5 * 0.6 * 1 + via b 1 * 0.4 * 1 = 0.7
    assert factors["ore"] == D("0.7")


def test_claim_fraction_scales_everything_upstream():
    step = Step(1, {"cells": D(10)}, {"pack": D(2)})
    graph = Graph(quantities={"cells": D(10), "pack": D(2)}, made_by={"pack": step})
    assert attribution_factors(graph, "pack", D("0.5"))["cells"] == D("0.5")


def test_edges_carry_the_input_quantity_attributed_to_each_output():
    split = Step(7, {"ore": D(900)}, {"a": D(2), "b": D(1)})
    graph = Graph(quantities={"ore": D(900), "a": D(2), "b": D(1)}, made_by={"a": split, "b": split})
    assert graph.edges() == [("ore", "a", 7, D(600)), ("ore", "b", 7, D(300))]


def test_decimal_str_is_plain_and_trimmed():
    assert decimal_str(D("1000.000000000")) == "1000"
    assert decimal_str(D("0.1234567896")) == "0.12345679"
    assert decimal_str(D("1E+3")) == "1000"
    assert decimal_str(D("72.5"), places=2) == "72.5"
    assert decimal_str(D("0")) == "0"
