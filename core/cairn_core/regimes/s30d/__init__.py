"""The clean vehicle credit (IRC §30D): Cairn's first regime.

    rules.py            the rule data (agreements, percentages, FEOC) as a RuleSet,
                        and the credit's rules as pure functions of it
    ruleset_json.py     the RuleSet as a JSON document (bundles, `rules` entries)
    lineage.py          mineral lineages and component shares through the DAG
    verdict.py          from a claim's signed statements to the verdict
    verdict_monitor.py  every verdict in the log by VIN, and those that disagree

Its proof bundle is checked by cairn_core.regimes.s30d.bundle (a bundle without a
`regime` section is §30D's); its rule tables are the `agreements` app's.
"""
