"""Regimes: the tax rules a Cairn verdict can be computed under, each a unit of its own.

A regime is what it takes to turn the log's signed statements into a signed,
offline-checkable verdict under one credit's rules:

* its **rule data**: a document of its own, versioned, every figure with its
  source and a `confirmed` flag (§30D: `cairn_core.ruleset_json`; §45X:
  `regimes.s45x.rules`), logged as contract §12 `rules` entries (§45X's with
  `"regime": "45x"`);
* its **computation**: pure functions from the signed statements, the keys
  and the rule data (§30D: `cairn_core.lineage`, `cairn_core.verdict`;
  §45X: `regimes.s45x.macr`);
* its **verdict shape**: the document the ledger signs, with its own report
  payload type, and its own ledger entry kind (§30D: `verdict`; §45X:
  `macr_verdict`);
* its **bundle rules**: what its proof bundle carries beyond contract §8's
  common sections, and how `cairn-verify` recomputes its verdict (§30D:
  `cairn_core.bundle.verify`; §45X: `regimes.s45x.bundle.verify`), sharing
  the log, checkpoint, witness, key, proof, chain and report checks
  (`cairn_core.bundle.check_log`) and so the trust rules and exit statuses.

A bundle names its regime in a `regime` section; a bundle without one is
§30D's (every bundle made before §45X). `cairn-verify` dispatches on it,
and on a report's payload type. The Django side keeps each regime's rule
tables, service and admin pages in its own app (§30D: `agreements`,
`audit`; §45X: `material_assistance`, `audit`). A third regime adds a
package here and an entry in `REGIMES`, and touches neither of these.
"""
