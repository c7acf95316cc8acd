"""Regimes: the tax rules a Cairn verdict can be computed under, each a unit of its own.

A regime is what it takes to turn the log's signed statements into a signed,
offline-checkable verdict under one credit's rules, and each is a package
here (`s30d`, `s45x`):

* its **rule data**: a document of its own, versioned, every figure with its
  source and a `confirmed` flag (`s30d.ruleset_json`, `s45x.rules`), logged
  as contract §12 `rules` entries (§45X's with `"regime": "45x"`);
* its **computation**: pure functions from the signed statements, the keys
  and the rule data (`s30d.lineage` and `s30d.verdict`; `s45x.macr`);
* its **verdict shape**: the document the ledger signs, with its own report
  payload type, and its own ledger entry kind (§30D: `verdict`; §45X:
  `macr_verdict`);
* its **bundle rules**: what its proof bundle carries beyond contract §8's
  common sections, and how `cairn-verify` recomputes its verdict
  (`s30d.bundle.verify`, `s45x.bundle.verify`), sharing the log, checkpoint,
  witness, key, proof, chain and report checks (`cairn_core.bundle.check_log`)
  and so the trust rules and exit statuses.

A bundle names its regime in a `regime` section; a bundle without one is
§30D's (every bundle made before §45X). `cairn-verify` dispatches on it,
and on a report's payload type. The Django side keeps each regime's rule
tables, service and admin pages in its own app (§30D: `agreements`,
`audit`; §45X: `material_assistance`, `audit`). A third regime adds a
package here and an entry in `REGIMES`, and touches neither of these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cairn_core import bundle, report_lines
from cairn_core.payload import JSONObject
from cairn_core.regimes.s30d import bundle as bundle_30d
from cairn_core.regimes.s30d import verdict as verdict_30d
from cairn_core.regimes.s45x import bundle as bundle_45x
from cairn_core.regimes.s45x import rules as rules_45x
from cairn_core.regimes.s45x import verdict as verdict_45x


@dataclass(frozen=True)
class Regime:
    """One regime, as the offline verifier and the documentation see it."""

    name: str  # the bundle's `regime` ("30d" for a bundle without one)
    title: str
    citation: str
    report_type: str  # the payload type of its signed verdict reports
    ledger_kind: str  # the kind of its verdicts' ledger entries (contract §12)
    verify_bundle: Callable[..., bundle.Result]  # (document, *, processes, log_key, witnesses, witnesses_required)
    verify_report: Callable[..., bundle.ReportResult]  # (document, *, log_key)
    describe: Callable[[JSONObject], list[str]]  # the signed verdict as cairn-verify prints it


S30D = Regime(
    name=bundle.REGIME_30D,
    title="Clean vehicle credit: critical minerals, battery components, FEOC",
    citation="IRC §30D",
    report_type=verdict_30d.REPORT_TYPE,
    ledger_kind="verdict",
    verify_bundle=bundle_30d.verify,
    verify_report=bundle_30d.verify_report,
    describe=report_lines.verdict_30d,
)
S45X = Regime(
    name=rules_45x.REGIME,
    title="Advanced manufacturing production credit: material assistance cost ratio",
    citation="IRC §45X(c)(1)(C); IRC §7701(a)(52)",
    report_type=verdict_45x.REPORT_TYPE,
    ledger_kind=bundle_45x.VERDICT_KIND,
    verify_bundle=bundle_45x.verify,
    verify_report=bundle_45x.verify_report,
    describe=bundle_45x.describe,
)
REGIMES: dict[str, Regime] = {regime.name: regime for regime in (S30D, S45X)}


def for_bundle(document: object) -> Regime:
    """The regime of a parsed bundle; NotABundle when it names one this verifier does not know."""
    name = bundle.regime_of(document)
    if name not in REGIMES:
        raise bundle.NotABundle(f'"regime" {name!r} is not one of {", ".join(sorted(REGIMES))}')
    return REGIMES[name]


def for_report(document: object) -> Regime:
    """The regime of a report (or a verdict carrying one) by its payload type; §30D's when none matches
    (its check then names the payload type)."""
    found = bundle.report_type_of(document)
    return next((regime for regime in REGIMES.values() if regime.report_type == found), S30D)
