"""§45X material assistance: its rule data, versioned with history and sources.

The rules of the second regime stand beside the agreements (§30D's), not
inside them: a prohibited foreign entity of §7701(a)(51) is judged by other
tests, on another date (the last day of the taxable year), than §30D's
foreign entity of concern, so neither app reads the other's tables.

Where to look:

* `material_assistance.models`: the rule tables (component classes, MACR
  thresholds by class and year sold, prohibited foreign entity designations,
  the status-date rule, the existing-contract exception), each row with its
  source, a `confirmed` flag and its full history.
* `material_assistance.rule_data`: `document(as_of=None)`, the JSON
  document the pure core reads (S45X design, section C), with its version.
* `material_assistance.admin`: the admin pages; every change there, as
  every change of the agreements, is a `rules` ledger entry
  (`provenance.rule_changes`, reached through the setting
  CAIRN_RULE_CHANGE_RECORDER, so that this app needs no import of the ledger).
"""
