"""Trade agreements, credit rules and FEOC rules as versioned data.

Where to look:

* `agreements.models`: the rule tables (each with its source and its full
  change history).
* `cairn_core.regimes.s30d.rules`: the rules as pure functions of a `RuleSet` snapshot
  (`qualifying_agreements`, `country_qualifies`, `required_percentages`,
  `credit_available`, `is_feoc`, ...).
* `agreements.snapshot`: `load_ruleset(as_of=None)` and the cached
  `current_ruleset()`; `rules_version()` fingerprints the rule data.
* `agreements.rule_rows`: a TradeAgreement row (or its history) as a rule.
* The what-if behind `manage.py agreement_impact` (`impact_of_termination`)
  is audit's: `audit.impact`.

The rules know nothing of the ledger: the links from ledger entries to the
agreements they relied on are the ledger's (`provenance.models.EntryAgreementLink`,
`provenance.linking`), and the agreements' admin pages gain their links, the
relink action and the what-if in `audit.admin.agreements`.
"""
