"""The server's verdict monitor: every verdict in the log, and those that disagree.

    history(vin)        a VIN's verdicts as the log records them (the claim page)
    check_verdicts()    incidents for intact verdicts on one VIN that disagree
                        with no rules entry between them (cairn_core.regimes.s30d.verdict_monitor)

Read from the ledger entries (audit.ledger_views.replay), not from the
verifications table: a verdict deleted or changed in the table is still
in the log, and the table's own disagreement with the log is
`verification_row` (audit.ledger_views).
"""

from __future__ import annotations

from audit.ledger_views import replay
from cairn_core.ledger_entries import VerdictRecord
from cairn_core.problems import Code, Problem
from cairn_core.regimes.s30d import verdict_monitor
from provenance.models import Claim


def check_verdicts() -> list[Problem]:
    """Each disagreement as a problem at the later verdict's entry."""
    state, _problems, _latest = replay()
    found = verdict_monitor.disagreements(state.verdicts.values(), state.rules)
    return [Problem(item.later.index, Code.VERDICTS_DISAGREE, item.message) for item in found]


def history(vin: str) -> list[dict[str, object]]:
    """The VIN's verdicts in log order, each with whether it disagrees unexplained with the one before."""
    state, _problems, _latest = replay()
    records: list[VerdictRecord] = [record for record in state.verdicts.values() if record.vin == vin]
    flagged = {item.later.index for item in verdict_monitor.disagreements(records, state.rules)}
    packs = dict(Claim.objects.filter(vin=vin).values_list("entry_id", "batch_id"))
    rows = verdict_monitor.table(records, packs)
    for row in rows:
        row["disagrees"] = row["index"] in flagged
    return rows
