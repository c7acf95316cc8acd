"""What a group commit appends, and with which function.

A batch of the group commit is the statements of several requests, each
request's whole and in order (`flatten`), appended together; each request
is then answered with its own statements' outcomes (`regroup`).

The sequencer thread (provenance.sequencer) and the sequencer process
(provenance.sequencer_socket) call `append`: the function the write path
handed over with `use` when it was imported (provenance.ingest hands over
its `append_batch_isolated`), so that neither imports the write path back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from provenance.pending import Append, Outcome, Pending

T = TypeVar("T")

_append: Append | None = None


def use(append: Append) -> None:
    """Append every batch of the group commit with `append`."""
    global _append
    _append = append


def append(items: list[Pending]) -> list[Outcome]:
    """Append `items`, in order, with the function handed over by `use`."""
    if _append is None:
        raise RuntimeError("nothing appends for the group commit: import provenance.ingest first")
    return _append(items)


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
