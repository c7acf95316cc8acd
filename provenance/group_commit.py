"""What a group commit appends, and with which function.

A batch of the group commit is the statements of several requests, each
request's whole and in order (`flatten`), appended together; each request
is then answered with its own statements' outcomes (`regroup`).

The sequencer thread (provenance.sequencer) calls `append`, and the
sequencer process (provenance.sequencer_socket) `append_handed_over`: the
functions the write path handed over with `use` when it was imported
(provenance.ingest hands over its `append_batch_isolated`, and
`append_handed_over`, which first checks again what another process
handed over), so that neither imports the write path back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from provenance.pending import Append, Outcome, Pending

T = TypeVar("T")

_append: Append | None = None
_append_handed_over: Append | None = None


def use(append: Append, *, handed_over: Append) -> None:
    """Append every batch of the group commit with `append`, and those
    another process handed over with `handed_over`."""
    global _append, _append_handed_over
    _append, _append_handed_over = append, handed_over


def append(items: list[Pending]) -> list[Outcome]:
    """Append `items`, in order, with the function handed over by `use`."""
    if _append is None:
        raise RuntimeError("nothing appends for the group commit: import provenance.ingest first")
    return _append(items)


def append_handed_over(items: list[Pending]) -> list[Outcome]:
    """Append `items` handed over by another process, checked again, in
    order, with the function handed over by `use`."""
    if _append_handed_over is None:
        raise RuntimeError("nothing appends for the group commit: import provenance.ingest first")
    return _append_handed_over(items)


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
