"""How a group commit's batch is made of requests and answered.

A batch of the group commit is the statements of several requests, each
request's whole and in order (`flatten`), appended together; each request
is then answered with its own statements' outcomes (`regroup`). The
function that appends is passed to the queue that runs it: the sequencer
thread gets provenance.append.checks's `append_batch_isolated` through
`sequencer.submit`, and the sequencer process
(provenance.append.process.Server) `append_handed_over` from
`manage.py run_sequencer`, which builds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def flatten(groups: Sequence[Sequence[T]]) -> list[T]:
    """The statements of every request of a batch, in order."""
    return [pending for group in groups for pending in group]


def regroup(groups: Sequence[Sequence[object]], outcomes: list[T]) -> list[list[T]]:
    """Split a batch's outcomes back into each request's, in order."""
    answers, start = [], 0
    for group in groups:
        answers.append(outcomes[start : start + len(group)])
        start += len(group)
    if start != len(outcomes):
        raise AssertionError("one outcome per statement")
    return answers
