"""From problems to suspects: which stored row was changed, and what it explains.

A check reports every failed comparison (`cairn_core.problems`): one
changed byte of entry #120 fails its leaf hash, its signature, the tree,
the Batch row it created (which still holds what was signed) and the next
entry's chain link. An auditor needs one finding per changed row, naming
that row as the suspect, with the rest as its consequences.

`group(problems, chains)` makes those findings, without a database:

* an entry whose own bytes fail (leaf hash, entry hash, envelope,
  signatures, stored statement) is the suspect of every problem at its
  index, and of the chain problems of the entries that signed its original
  hash (`chains`: suspect index -> the later entries on its batches);
* otherwise a problem names its own row: a Batch row (`batch_state`), a
  Claim row (`claim_state`), an entry's batch links, signature records or
  agreement links, a Merkle node (`tree`), a checkpoint, a missing entry;
* what names no row (the schedule, a witness's refusal) stays one finding
  per problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cairn_core.problems import Code, Problem

# What an entry fails when its own stored bytes or columns were changed.
ENTRY_ALTERED = {
    Code.LEAF_HASH,
    Code.ENTRY_HASH,
    Code.MALFORMED_ENVELOPE,
    Code.BAD_SIGNATURE,
    Code.ISSUER_SIGNATURE,
    Code.UNKNOWN_KEY,
    Code.KEY_NOT_VALID,
    Code.STATEMENT,
}
# How the finding on an altered entry reads each of its failures.
REASONS = {
    Code.LEAF_HASH: "its stored bytes and leaf hash disagree",
    Code.ENTRY_HASH: "its stored bytes and entry hash disagree",
    Code.MALFORMED_ENVELOPE: "its envelope no longer decodes",
    Code.BAD_SIGNATURE: "signature fails",
    Code.ISSUER_SIGNATURE: "signature fails",
    Code.UNKNOWN_KEY: "signed by no registered key",
    Code.KEY_NOT_VALID: "signed by a key not valid when logged",
    Code.STATEMENT: "stored statement differs from the signed payload",
    Code.INCLUSION: "no longer in the checkpoint",
    Code.TREE: "no longer in the checkpoint",
}
# The row a problem names when no altered entry explains it: (pattern of its message, suspect).
ROW_OF_CODE = {
    Code.BATCH_STATE: (re.compile(r"^batch (\S+):"), "batch {0}"),
    Code.CLAIM_STATE: (re.compile(r"^claim (\S+):"), "claim {0}"),
    Code.TREE: (re.compile(r"Merkle node \((level \d+, index \d+)\)"), "Merkle node ({0})"),
    Code.CHECKPOINT: (re.compile(r"checkpoint (\d+)"), "checkpoint {0}"),
    Code.CHECKPOINT_SIGNATURE: (re.compile(r"checkpoint (\d+)"), "checkpoint {0}"),
}
ROWS_OF_ENTRY: dict[Code | None, str] = {
    Code.LINK: "batch links of entry #{0}",
    Code.SIGNATURE_RECORDS: "signature records of entry #{0}",
    Code.AGREEMENT_LINK: "agreement links of entry #{0}",
    Code.MISSING_ENTRY: "entry #{0}",
}


@dataclass
class Finding:
    """One suspect row and every problem it explains."""

    suspect: str  # "entry #120", "batch b-7", "" when the problem names no row
    index: int  # where it was found: the suspect entry, or the entry the row derives from
    problems: list[Problem] = field(default_factory=list)
    entry: int | None = None  # the suspect entry's index, when the suspect is an entry
    chains: list[int] = field(default_factory=list)  # later entries whose signed chain runs through it

    @property
    def code(self) -> str:
        return self.problems[0].code

    def summary(self, claims: Iterable[str] = ()) -> str:
        """ "entry #120 altered after logging: signature fails, no longer in the checkpoint;
        consequences: #121's chain, claims X and Y"."""
        if self.entry is not None and self.suspect.startswith("entry"):
            codes = [problem.code for problem in self.problems if problem.index == self.entry]
            if codes == [Code.MISSING_ENTRY]:
                text = f"{self.suspect} deleted"
            else:
                failed = {REASONS[Code(code)] for code in codes if code in REASONS}
                reasons = [reason for reason in dict.fromkeys(REASONS.values()) if reason in failed]
                text = f"{self.suspect} altered after logging: {', '.join(reasons) or 'its rows disagree'}"
        elif self.suspect:
            details = "; ".join(_detail(problem) for problem in self.problems)
            text = f"{self.suspect} altered: {details}"
        else:
            text = self.problems[0].message
        return text + consequences_text(self.chains, claims)


def consequences_text(chains: Iterable[int], claims: Iterable[str]) -> str:
    parts = [f"#{index}'s chain" for index in chains]
    vins = sorted(claims)
    if vins:
        parts.append(("claim " if len(vins) == 1 else "claims ") + _and(vins))
    return f"; consequences: {', '.join(parts)}" if parts else ""


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _detail(problem: Problem) -> str:
    """The problem's message without the row's name, which the suspect already gives."""
    return re.sub(r"^(batch|claim) \S+: ", "", problem.message)


def altered_entries(problems: Iterable[Problem]) -> list[int]:
    """Entries whose own bytes or columns fail their checks."""
    return sorted({problem.index for problem in problems if problem.code in ENTRY_ALTERED})


def group(problems: Iterable[Problem], chains: Mapping[int, list[int]] | None = None) -> list[Finding]:
    """One finding per suspect row (see the module docstring), in order of index."""
    problems = list(dict.fromkeys(problems))
    chains = chains or {}
    altered = altered_entries(problems)
    by_suspect: dict[str, Finding] = {}
    successor = {later: index for index in altered for later in chains.get(index, [])}
    loose: list[Finding] = []
    for problem in problems:
        if problem.index in altered:
            owner = problem.index
        elif problem.code == Code.CHAIN and problem.index in successor:
            owner = successor[problem.index]
        else:
            suspect = _row_of(problem)
            if not suspect:
                loose.append(Finding("", problem.index, [problem]))
                continue
            finding = by_suspect.setdefault(suspect, Finding(suspect, problem.index))
            finding.entry = problem.index if suspect == f"entry #{problem.index}" else None
            finding.problems.append(problem)
            continue
        finding = by_suspect.setdefault(f"entry #{owner}", Finding(f"entry #{owner}", owner, entry=owner))
        finding.problems.append(problem)
        finding.chains = sorted(set(chains.get(owner, [])))
    return sorted([*by_suspect.values(), *loose], key=lambda finding: finding.index)


def _row_of(problem: Problem) -> str:
    code = Code(problem.code) if problem.code in set(Code) else None
    if code in ROWS_OF_ENTRY:
        return ROWS_OF_ENTRY[code].format(problem.index)
    pattern = ROW_OF_CODE.get(code) if code else None
    if pattern is None:
        return ""
    found = pattern[0].search(problem.message)
    return pattern[1].format(found.group(1)) if found else ""
