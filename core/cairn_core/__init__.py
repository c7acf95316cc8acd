"""Cairn's verification core: the code every party can run without Cairn.

Plain Python over `cryptography` and PyNaCl, with no Django and no
database, so that an examiner can verify a proof bundle offline and a
supplier can sign statements with nothing else installed. The server's
apps (`agreements`, `provenance`, `audit`) import it; nothing here imports
them.

* `dsse`: DSSE v1 envelopes, PAE, entry_hash, Ed25519 signing and verifying.
* `payload`: the attestation grammar (contract §3).
* `merkle`: RFC 9162 §2.1 hashing, inclusion and consistency proofs.
* `signed_note`: C2SP signed notes and tlog checkpoints.
* `tlog_proof`: C2SP tlog-proof@v1, formatted and verified.
* `dag`: attribution over the batch DAG.
* `rules`: the clean vehicle credit's rules over a `RuleSet`.
* `lineage`: mineral lineages, the 50% value-added test, component shares.
* `verdict`: from signed statements and a RuleSet to the verdict's figures.
* `bundle`: the proof bundle (contract §8) and its verifier (`cairn-verify`).
"""

__version__ = "1.2.0"

# What the client (`cairn`, `cairn_core.client`) says when click or httpx is
# missing: install from Cairn's source, never by name from an index.
CLIENT_EXTRA_MISSING = "needs the client extra: pip install './core[client]' from Cairn's source"
