"""Hand work to a background thread that sends it in gathered lots.

The write path's sequencer must not wait on anything but the ledger: a
broker round trip made after each of its batches (a Celery task sent: one
to two milliseconds of CPU and waiting) held the next batch back, and cost
single posts a quarter of their rate (bench/ingest.py: 0.19–0.20 of the
no-op with it, 0.27–0.29 without). A `Gatherer` takes items at the cost of
a list append, and one thread per process sends whatever has gathered, at
most one lot every `pause` seconds.

What is still gathered when a process ends is sent on the way out
(`atexit`, for at most a few seconds); what a killed process held, or a
failed send, is lost: use it only for work that something else makes good
(provenance.tasks: the first export derives the events never scheduled).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Gatherer(Generic[T]):
    """Items added from any thread, sent by `send` in lots, in the order added."""

    def __init__(self, name: str, send: Callable[[list[T]], None], pause: float) -> None:
        self.name = name
        self._send = send
        self._pause = pause
        self._changed = threading.Condition()
        self._items: list[T] = []
        self._sending = False
        self._flushing = 0  # callers of `flush` waiting: no pause between lots meanwhile
        self._thread: threading.Thread | None = None
        atexit.register(self.flush, 5.0)
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        """A forked child (gunicorn, Celery) starts empty: its parent sends
        what it had gathered, and its lock may have been held mid-fork."""
        self._changed = threading.Condition()
        self._items, self._sending, self._flushing, self._thread = [], False, 0, None

    def add(self, items: Iterable[T]) -> None:
        """Queue `items` to be sent soon; never waits on the sending."""
        with self._changed:
            self._items.extend(items)
            self._ensure_thread()
            self._changed.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything added has been sent (or failed); False when
        `timeout` seconds passed first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._flushing += 1
            self._changed.notify_all()  # a thread pausing between lots: send now
            try:
                while self._items or self._sending:
                    if self._thread is None or not self._thread.is_alive():
                        return not self._items  # nothing will send them
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._changed.wait(left)
            finally:
                self._flushing -= 1
        return True

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._sending = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._items:
                    self._changed.wait()
                lot, self._items = self._items, []
                self._sending = True
            try:
                self._send(lot)
            except Exception:  # the send's own business; the items are lost (see the module)
                log.warning("%s: could not send %d items", self.name, len(lot), exc_info=True)
            with self._changed:
                self._sending = False
                self._changed.notify_all()
                # Gather for a while before the next lot, unless someone flushes.
                resume = time.monotonic() + self._pause
                while not self._flushing and (left := resume - time.monotonic()) > 0:
                    self._changed.wait(left)
