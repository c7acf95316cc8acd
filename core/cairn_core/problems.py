"""A failed check, as every verifier in Cairn names it.

`Problem(index, code, message)` is one failed check of one entry: the
ledger check (`verify_ledger`), the Celery integrity checks, claim
verification and the offline bundle verifier all report in this shape,
and a verdict lists them as contract §5's `{"code", "message", "index"}`.

`Code` is the one list of integrity problem codes. The same tampering gets
the same code from every verifier: the per-entry checks are the functions
of `cairn_core.entries`, which all of them call.

Each entry, from its leaf input alone (every verifier):

* `leaf_hash`: the stored leaf_hash is not SHA-256(0x00 ‖ leaf input);
* `malformed_envelope`: the envelope or its payload does not decode (§6's code);
* `entry_hash`: the stored entry_hash is not SHA-256 of the envelope's PAE;
* `statement`: the stored statement, type, issuer or times differ from the
  signed payload, or the payload is not a statement that can be replayed;
* `unknown_key`: a signature names no registered key (§6);
* `bad_signature`: a signature does not verify over the PAE (§6);
* `key_not_valid`: the key was not valid at the entry's integrated_time (§6);
* `issuer_signature`: no signature that verifies is by a key of the issuer;
* `chain`: a signed `prev` is not the batch's previous entry (its head), a
  batch is named before any entry created it, or created twice;
* `inclusion`: the entry's leaf is not under a signed checkpoint's root
  (an inclusion proof or the tree rebuilt from the leaves disagrees).

What the server stores beside the entries (the ledger check, claim verification):

* `signature_records`: the stored signature records name other keys than the envelope;
* `link`: a stored batch link (role, prev, quantity, custody) is not what the
  signed statement says;
* `custody`, `mass_balance`: the issuer is not the batch's custodian; more
  consumed than the batch holds (the replay of `verify_ledger`);
* `batch_state`, `claim_state`: a Batch or Claim row is not what the entries imply;
* `claim`: the Claim row verified differs from the signed claim;
* `missing_entry`, `beyond_log`: a row missing inside the log, or beyond its size;
* `tree`, `frontier`: stored Merkle nodes or the log's frontier disagree with
  the tree rebuilt from the entries;
* `checkpoint`: a checkpoint lies beyond the log or the stored tree does not
  give its root;
* `checkpoint_signature`: a checkpoint's note is not signed by the log key;
* `witness`: a witness refused a checkpoint (it holds another history of the
  log: a fork, a rollback) or a stored cosignature does not verify;
* `checkpoint_rollback`: the latest checkpoint row is older than the newest
  checkpoint ever published, as a mark outside the database (a file in
  VAR_DIR, the cache), a stored cosignature or a witness remembers it, or
  has another root at the same size;
* `ledger_entry`: a ledger entry (contract §12) no honest ledger logs (a key
  registered twice, a revocation of a key never registered, a verdict
  logged twice);
* `key_row`, `organization_row`, `verification_row`: a row of the keys,
  organisations or verifications differs from the ledger entries it is a
  view of, has none, or is missing although an entry records it
  (audit.ledger_views);
* `rules_data`: the rule data is not what the latest `rules` entry records
  (changed without an entry);
* `agreement_link`: an entry's agreement links are not those the logged rule
  data gives for its signed statement (added, deleted or re-pointed);
* `verdicts_disagree`: two intact verdicts on one VIN in the log differ with
  no `rules` entry logged between them (audit.verdict_monitor).

What guards the checks themselves (audit.watchdog, the integrity tasks):

* `schedule`: a periodic task of audit/schedule.py is missing, disabled,
  runs another task, or runs less often than the settings allow;
* `checks_stale`: no incremental integrity check has finished for twice
  its interval;
* `incidents_deleted`: integrity incidents or check runs were deleted (the
  highest id or the number of rows is below its mark outside the database).

The offline bundle verifier names the failures of the bundle as a whole by
the section that fails: `log`, `keys`, `entries`, `organizations`,
`report`, `rules`, `verdict` (and `checkpoint_signature` for its checkpoint),
`ledger` (a ledger entry it carries that is not the log key's, or not one)
and `verdict_entry` (the verdict's own entry in the log: missing, unproven,
or saying something else than the verdict). A verdict's unmet requirements carry the requirement's name as their code
(contract §5: `critical_minerals`, `battery_components`, ...), not listed here.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict


class Code(enum.StrEnum):
    """Every integrity problem code (see the module docstring for what each means)."""

    LEAF_HASH = "leaf_hash"
    MALFORMED_ENVELOPE = "malformed_envelope"
    ENTRY_HASH = "entry_hash"
    STATEMENT = "statement"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    KEY_NOT_VALID = "key_not_valid"
    ISSUER_SIGNATURE = "issuer_signature"
    CHAIN = "chain"
    INCLUSION = "inclusion"
    SIGNATURE_RECORDS = "signature_records"
    LINK = "link"
    CUSTODY = "custody"
    MASS_BALANCE = "mass_balance"
    BATCH_STATE = "batch_state"
    CLAIM_STATE = "claim_state"
    CLAIM = "claim"
    MISSING_ENTRY = "missing_entry"
    BEYOND_LOG = "beyond_log"
    TREE = "tree"
    FRONTIER = "frontier"
    CHECKPOINT = "checkpoint"
    CHECKPOINT_SIGNATURE = "checkpoint_signature"
    WITNESS = "witness"
    LEDGER_ENTRY = "ledger_entry"
    KEY_ROW = "key_row"
    ORGANIZATION_ROW = "organization_row"
    RULES_DATA = "rules_data"
    VERIFICATION_ROW = "verification_row"
    VERDICTS_DISAGREE = "verdicts_disagree"
    AGREEMENT_LINK = "agreement_link"
    CHECKPOINT_ROLLBACK = "checkpoint_rollback"
    SCHEDULE = "schedule"
    CHECKS_STALE = "checks_stale"
    INCIDENTS_DELETED = "incidents_deleted"
    # The bundle's sections, when the bundle as a whole fails.
    LOG = "log"
    KEYS = "keys"
    ENTRIES = "entries"
    ORGANIZATIONS = "organizations"
    REPORT = "report"
    RULES = "rules"
    VERDICT = "verdict"


class ProblemDict(TypedDict):
    """Contract §5's shape of a problem."""

    code: str
    message: str
    index: int


@dataclass(frozen=True, order=True)
class Problem:
    index: int
    code: str
    message: str

    def __post_init__(self) -> None:
        # A Code is stored as its plain string: problems read back from JSON
        # (a Celery result, a stored verdict) compare and hash the same.
        object.__setattr__(self, "code", str(self.code))

    @property
    def line(self) -> str:
        """Contract §7's report line: `index N: <reason>`."""
        return f"index {self.index}: {self.message}"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.index}\n{self.code}\n{self.message}".encode()).hexdigest()

    def as_dict(self) -> ProblemDict:
        """The contract's shape: {"code", "message", "index"}."""
        return {"code": self.code, "message": self.message, "index": self.index}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Problem:
        """A problem read back from its contract shape (a Celery result, a stored verdict)."""
        return cls(data["index"], data["code"], data["message"])
