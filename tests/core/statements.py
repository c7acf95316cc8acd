"""Signed-statement payloads as plain dicts, and the verdict cairn_core computes from them.

The same path as the server and the offline bundle verifier take
(`cairn_core.regimes.s30d.verdict`: upstream, assess, build_verdict), without a database
or signatures: for tests of the rules applied to a claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cairn_core.regimes.s30d import rules, verdict
from tests.agreements.domain import domain_ruleset


@dataclass
class Statements:
    """Payloads by log index, in the shapes of contract §3."""

    payloads: dict[int, dict] = field(default_factory=dict)
    countries: dict[str, str] = field(default_factory=dict)

    def _add(self, payload: dict) -> int:
        index = len(self.payloads)
        self.payloads[index] = payload
        return index

    def _base(self, kind: str, issuer: str, country: str, day: str) -> dict:
        self.countries.setdefault(issuer, country)
        moment = f"{day}T09:00:00Z"
        return {"type": kind, "issuer": issuer, "issued_at": moment, "occurred_at": moment}

    def origin(
        self,
        country: str,
        minerals: dict[str, str],
        *,
        value: str = "1000",
        day: str = "2024-03-01",
        issuer: str = "",
        activity: str = "extraction",
        quantity: str = "1000",
    ) -> str:
        issuer = issuer or f"mine-{country.lower()}-{len(self.payloads)}"
        batch = f"{issuer}:ore-{len(self.payloads)}"
        output = {"batch": batch, "quantity": quantity, "minerals": minerals, "value_added_usd": value}
        payload = self._base("origin", issuer, country, day)
        payload |= {"activity": activity, "site": {"name": "site", "country": country}, "outputs": [output]}
        self._add(payload)
        return batch

    def transform(
        self,
        inputs: list[tuple[str, str]],
        country: str,
        *,
        outputs: list[dict] | None = None,
        value: str = "900",
        activity: str = "processing",
        component: str = "",
        day: str = "2024-04-01",
        issuer: str = "",
    ) -> list[str]:
        """`inputs` as (batch, quantity); one output of 100 unless `outputs` are given."""
        issuer = issuer or f"plant-{country.lower()}-{len(self.payloads)}"
        outputs = outputs or [
            {"quantity": "100", "value_added_usd": value} | ({"component": component} if component else {})
        ]
        named = [{"batch": f"{issuer}:out-{len(self.payloads)}-{n}", **item} for n, item in enumerate(outputs)]
        payload = self._base("transform", issuer, country, day)
        payload |= {
            "activity": activity,
            "site": {"name": "plant", "country": country},
            "inputs": [{"batch": batch, "prev": "0" * 64, "quantity": quantity} for batch, quantity in inputs],
            "outputs": named,
        }
        self._add(payload)
        return [item["batch"] for item in named]

    def cells_and_pack(self, material: str, *, cells_country: str = "US", cells_value: str = "5000") -> str:
        """Cells (a listed component) from all of `material`, then a pack (assembly, US, 2000)."""
        (cells,) = self.transform(
            [(material, "100")], cells_country, value=cells_value, activity="manufacturing", component="battery_cell"
        )
        (pack,) = self.transform([(cells, "100")], "US", value="2000", activity="assembly", component="battery_pack")
        return pack

    def claim(
        self,
        pack: str,
        *,
        acquired: str = "2024-06-01",
        placed_in_service: str = "2024-06-15",
        country: str = "US",
        vin: str = "5YJ3E1EA0PF000099",
    ) -> int:
        payload = self._base("claim", "maker", "US", placed_in_service)
        payload |= {
            "batch": pack,
            "prev": "0" * 64,
            "quantity": "100",
            "vin": vin,
            "acquired": acquired,
            "placed_in_service": placed_in_service,
            "final_assembly": {"name": "plant", "country": country},
        }
        return self._add(payload)

    def verdict(self, claim_index: int, ruleset: rules.RuleSet | None = None) -> verdict.Verdict:
        ruleset = ruleset or domain_ruleset()
        facts = verdict.claim_facts(claim_index, self.payloads[claim_index])
        dag = verdict.upstream(self.payloads, claim_index)
        done, problems = verdict.assess(facts, self.payloads, dag, self.countries, ruleset)
        issuers = verdict.issuer_countries(self.payloads, dag, self.countries)
        return verdict.build_verdict(
            facts, done, ruleset, broken=problems, checkpoint="", checkpoint_size=0, issuers=issuers
        )


def simple_claim(
    *,
    mine: str = "AU",
    mined: str = "2024-03-01",
    refinery: str = "JP",
    cells: str = "US",
    **claim,
) -> tuple[Statements, int]:
    """Ore (lithium 60 kg, 1000 USD) -> hydroxide (900) -> cells (5000) -> pack (2000) -> claim."""
    chain = Statements()
    ore = chain.origin(mine, {"lithium": "60"}, day=mined)
    (hydroxide,) = chain.transform([(ore, "1000")], refinery, day=mined)
    pack = chain.cells_and_pack(hydroxide, cells_country=cells)
    return chain, chain.claim(pack, **claim)
