"""Every verdict in the log, by VIN, and the ones that disagree (contract §12).

Each verification is a `verdict` ledger entry. Two intact verdicts on one
VIN may differ only for a reason the log shows: a change of the rule data
(a `rules` entry) between them. `disagreements` lists each pair of
consecutive intact verdicts on one VIN whose credit differs with no rules
entry logged between them: a verdict made under rules nobody logged, or a
verdict altered. (A broken verdict's credit is 0 by definition: it is
listed, never compared.)

Used by the server's monitor (audit.verdict_monitor, a Celery task, whose
findings are incidents) and by `cairn verdicts`, which reads the log
itself. No Django import.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cairn_core.ledger_entries import RulesRecord, VerdictRecord


@dataclass(frozen=True)
class Disagreement:
    vin: str
    earlier: VerdictRecord
    later: VerdictRecord

    @property
    def message(self) -> str:
        return (
            f"VIN {self.vin}: verification {self.earlier.verification} (entry #{self.earlier.index}, "
            f"${self.earlier.credit_usd}) and verification {self.later.verification} (entry #{self.later.index}, "
            f"${self.later.credit_usd}) are both intact and disagree, with no rules entry logged between them"
        )


def by_vin(verdicts: Iterable[VerdictRecord]) -> dict[str, list[VerdictRecord]]:
    """The verdicts of each VIN, in log order."""
    found: dict[str, list[VerdictRecord]] = defaultdict(list)
    for record in sorted(verdicts, key=lambda item: item.index):
        found[record.vin].append(record)
    return dict(found)


def disagreements(verdicts: Iterable[VerdictRecord], rules: Iterable[RulesRecord]) -> list[Disagreement]:
    """Consecutive intact verdicts on one VIN that differ with no rules entry between them."""
    changes = sorted(record.index for record in rules)
    found = []
    for vin, records in sorted(by_vin(verdicts).items()):
        intact = [record for record in records if record.integrity == "intact"]
        for earlier, later in zip(intact, intact[1:], strict=False):
            explained = any(earlier.index < index < later.index for index in changes)
            if earlier.credit_usd != later.credit_usd and not explained:
                found.append(Disagreement(vin, earlier, later))
    return found


def table(verdicts: Iterable[VerdictRecord], packs: Mapping[int, str]) -> list[dict[str, object]]:
    """One row per verdict, by VIN then log order: what `cairn verdicts` prints."""
    rows: list[dict[str, object]] = []
    for vin, records in sorted(by_vin(verdicts).items()):
        for record in records:
            rows.append(
                {
                    "vin": vin,
                    "pack": packs.get(record.claim_index),
                    "verification": record.verification,
                    "index": record.index,
                    "claim_index": record.claim_index,
                    "credit_usd": record.credit_usd,
                    "integrity": record.integrity,
                    "at": record.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "requested_by": dict(record.requested_by),
                }
            )
    return rows
