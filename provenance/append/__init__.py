"""The append: how a signed statement gets into the ledger, read in the
contract's order (§6 for the checks, §9 for a batch submission).

    checks.py      the contract's checks, one function each, in its order;
                   append_attestation (POST /attestations),
                   append_attestations (POST /attestations/batch),
                   validate_attestations (POST /attestations/validate)
    batch_body.py  a batch submission's body: each envelope's exact bytes
    pending.py     what travels: a statement waiting, its caller, its receipt
                   or refusal (plain values, shared by every module here)
    write.py       the transaction: the log's tail lock, every read a batch
                   needs in one round trip (Book), the rows written at once
    rows.py        the rows an append writes, one named tuple per table
    lookups.py     lookups and locks in plain SQL, without the query compiler
    sql.py         many rows in one statement (PostgreSQL) or multi-row INSERTs
    sequencer.py   group commit: statements waiting at once share one
                   transaction (a thread, or the process below); the queue is
                   handed the append it runs (group.py: a batch made of
                   requests and answered per request)
    process.py     the sequencer process (`manage.py run_sequencer`) and its
                   Unix socket; handshake.py frames and authenticates a
                   connection, wire.py is what the two sides send (JSON)

Nothing outside this package writes the ledger's statements; ledger entries
(§12: keys, organisations, rules, verdicts) go through
provenance.ledger_entries, under the same tail lock.
"""
