"""cairn_core.regimes.s30d.lineage on plain data (no database): the fast per-place sums agree
with the step-by-step shares, and the tests compare exactly."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from cairn_core.dag import Graph, Step, attribution_factors
from cairn_core.regimes.s30d import lineage
from cairn_core.regimes.s30d.lineage import Activity, BatchFacts, Share, SupplyChain
from tests.agreements.domain import domain_ruleset

D = Decimal
DAY = dt.date(2024, 4, 1)


def activity(index: int, kind: str, country: str) -> Activity:
    return Activity(index, kind, country, f"org-{index}", country, DAY)


def random_chain(seed: int) -> SupplyChain:
    """Origins, then layers of processing, splits and manufacturing, then a pack."""
    generator = random.Random(seed)
    batches, made_by, quantities = {}, {}, {}
    layer = []
    for index in range(8):
        batch = f"o{index}"
        minerals = {"lithium": D(generator.randint(1, 60)), "nickel": D(generator.randint(0, 30))}
        kind = generator.choice(["extraction", "extraction", "recycling"])
        country = generator.choice(["AU", "ID", "CA", "JP"])
        batches[batch] = BatchFacts(batch, activity(index, kind, country), D(1000), minerals)
        quantities[batch] = D(1000)
        layer.append(batch)
    index = 8
    for kind in ["processing", "split", "processing", "manufacturing"]:
        next_layer = []
        for _ in range(4):
            inputs = {b: D(generator.randint(1, 100)) for b in generator.sample(layer, 3)}
            outputs = {f"b{index}-{n}": D(generator.randint(1, 50)) for n in range(2)}
            step = Step(index, inputs, outputs)
            country = generator.choice(["US", "KR", "ID", "JP"])
            for batch, quantity in outputs.items():
                value = D(0) if kind == "split" else D(generator.randint(1, 900))
                component = "cathode_electrode" if kind == "manufacturing" else ""
                facts = BatchFacts(batch, activity(index, kind, country), value, {}, component)
                batches[batch], made_by[batch], quantities[batch] = facts, step, quantity
                next_layer.append(batch)
            index += 1
        layer = next_layer
    pack = Step(index, {b: quantities[b] for b in layer}, {"pack": D(1)})
    batches["pack"] = BatchFacts("pack", activity(index, "assembly", "US"), D(500), {}, "battery_pack")
    made_by["pack"], quantities["pack"] = pack, D(1)
    graph = Graph(quantities=quantities, made_by=made_by)
    return SupplyChain(batches, graph, attribution_factors(graph, "pack"))


def test_place_sums_agree_with_the_step_by_step_shares():
    ruleset = domain_ruleset()
    for seed in range(20):
        chain = random_chain(seed)
        for item in lineage.mineral_lineages(chain, ruleset):
            stages = item.processing
            total = sum((stage.value_usd for stage in stages), D(0))
            qualifying = sum((stage.value_usd for stage in stages if stage.qualifies), D(0))
            assert abs(total - item.processing_share.whole) < D("1e-18")
            assert abs(qualifying - item.processing_share.part) < D("1e-18")


def test_processing_value_is_conserved():
    """All processing value in the vehicle is shared out among the lineages."""
    ruleset = domain_ruleset()
    for seed in range(20):
        chain = random_chain(seed)
        processing = [s for s in chain.steps() if chain.activity_of(s).kind == "processing"]
        in_vehicle = sum((chain.value_of(step) for step in processing), D(0))
        lineages = lineage.mineral_lineages(chain, ruleset)
        shared = sum((item.processing_share.whole for item in lineages), D(0))
        assert abs(in_vehicle - shared) < D("1e-18")


def test_share_compares_without_rounding():
    assert Share(D(1), D(2)).at_least(D(50))
    assert not Share(D("0.4999999999"), D(1)).at_least(D(50))
    assert Share(D(1), D(3)).pct.quantize(D("0.01")) == D("33.33")
    assert not Share(D(0), D(0)).at_least(D(0))
    assert lineage.pct_str(D("72.495")) == "72.50"
    assert lineage.pct_str(D("72.4949")) == "72.49"


def test_a_split_is_neither_a_component_nor_a_mineral_activity():
    assert lineage.feoc_kind("split") is None
    assert lineage.feoc_kind("assembly") == "components"
    assert lineage.feoc_kind("recycling") == "minerals"
