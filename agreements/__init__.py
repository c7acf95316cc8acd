"""Trade agreements, credit rules and FEOC rules as versioned data.

Where to look:

* `agreements.models`: the rule tables (each with its source and its full
  change history) and `EntryAgreementLink`, the derived links from ledger
  entries to agreements.
* `cairn_core.rules`: the rules as pure functions of a `RuleSet` snapshot
  (`qualifying_agreements`, `country_qualifies`, `required_percentages`,
  `credit_available`, `is_feoc`, ...).
* `agreements.snapshot`: `load_ruleset(as_of=None)` and the cached
  `current_ruleset()`; `rules_version()` fingerprints the rule data.
* `agreements.linking`: `link_entry` (called by the ledger's write path),
  `relink` and `links_for_entries`.
* The what-if behind `manage.py agreement_impact` (`impact_of_termination`)
  is audit's: `audit.impact`.
"""
