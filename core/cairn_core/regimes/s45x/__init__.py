"""§45X, the advanced manufacturing production credit: its material assistance rules.

`rules`: the rule data (component classes, MACR thresholds, prohibited
foreign entity designations, the status date, the existing-contract
exception), versioned by its own digest. `macr`: the material assistance
cost ratio of a component batch for a taxable year, from signed statements.
`verdict`: the verdict document the ledger signs, and the what-if.
`bundle`: the proof bundle's offline verifier. docs/contract-45x.md is the
wire contract of its statements, verdict and bundle.
"""
