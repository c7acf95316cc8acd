"""provenance.gather: work handed to a thread and sent in gathered lots,
without the caller ever waiting on the sending."""

from __future__ import annotations

import threading
import time

from provenance.gather import Gatherer


def test_items_added_while_a_lot_is_sent_go_together_in_the_next():
    release = threading.Event()
    lots: list[list[int]] = []

    def send(lot: list[int]) -> None:
        lots.append(lot)
        release.wait(5)

    gatherer = Gatherer("test-gather", send, pause=0.05)
    gatherer.add([1])
    deadline = time.monotonic() + 5
    while not lots and time.monotonic() < deadline:
        time.sleep(0.001)
    started = time.monotonic()
    for item in range(2, 12):
        gatherer.add([item])  # the send in progress does not hold them
    assert time.monotonic() - started < 0.5
    release.set()
    assert gatherer.flush(5)
    assert lots == [[1], list(range(2, 12))]


def test_a_failed_send_is_logged_and_the_next_lot_still_goes(caplog):
    lots: list[list[str]] = []

    def send(lot: list[str]) -> None:
        if lot == ["broken"]:
            raise ConnectionError("broker down")
        lots.append(lot)

    gatherer = Gatherer("test-gather", send, pause=0.01)
    gatherer.add(["broken"])
    assert gatherer.flush(5)
    gatherer.add(["a", "b"])
    assert gatherer.flush(5)
    assert lots == [["a", "b"]]
    assert "test-gather: could not send 1 items" in caplog.text


def test_flush_does_not_wait_out_the_pause_between_lots():
    lots: list[list[int]] = []
    gatherer = Gatherer("test-gather", lots.append, pause=30)
    gatherer.add([1])
    assert gatherer.flush(5)
    started = time.monotonic()
    gatherer.add([2])  # the thread now pauses 30 s before its next lot
    assert gatherer.flush(5)
    assert time.monotonic() - started < 2
    assert lots == [[1], [2]]


def test_flush_gives_up_at_its_timeout():
    release = threading.Event()
    gatherer = Gatherer("test-gather", lambda lot: release.wait(5), pause=0)
    gatherer.add([1])
    started = time.monotonic()
    assert not gatherer.flush(0.2)
    assert time.monotonic() - started < 2
    release.set()
    assert gatherer.flush(5)
