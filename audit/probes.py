"""Health probes that answer within their own deadline, however the part
they probe fails.

A probe of a hung part (a database or Redis that accepts connections and
never answers, a sequencer process stopped with SIGSTOP) would otherwise
hold the request thread that asked for as long as the part hangs, and a
load balancer polling /health would take every thread of the service that
way. So each check of a process runs through one `Probe`:

* at most one run of it is in flight in the process, on a thread of its
  own (a daemon: a run that never returns is left behind, never waited
  for, and no second one is started beside it);
* a request waits for that run until `deadline` seconds after the run
  started, not after the request arrived: twenty probes at once wait for
  the same run and are all answered by its deadline, and a probe arriving
  while a run hangs is answered at once ("no answer for N s");
* a result is reused for `fresh_for` seconds, so a storm of probes costs the
  parts probed one run per check.

No Django here: the checks are handed in as functions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Verdict:
    """One finished run: None when healthy, else the failure (kept as the
    exception's type and message, so that each request raises a fresh one)."""

    finished_at: float
    failure: tuple[type[Exception], str] | None


@dataclass
class Flight:
    started_at: float
    done: threading.Event = field(default_factory=threading.Event)
    verdict: Verdict | None = None


class Probe:
    """Runs `check` for requests with the sharing and deadline described above.

    `check` returns when healthy and raises when not; an exception of one of
    `reported` types keeps its type and message; any other (logged with its
    traceback), or no answer by the deadline, is reported as `unhealthy`."""

    def __init__(
        self,
        name: str,
        check: Callable[[], None],
        *,
        deadline: float,
        fresh_for: float,
        reported: tuple[type[Exception], ...],
        unhealthy: type[Exception],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.check, self.reported, self.unhealthy = name, check, reported, unhealthy
        self.deadline, self.fresh_for, self.clock = deadline, fresh_for, clock
        self._lock = threading.Lock()
        self._last: Verdict | None = None
        self._flight: Flight | None = None

    def failure(self) -> tuple[type[Exception], str] | None:
        """None when the part is healthy, else the exception type and message
        to report; returns within `deadline` seconds of its run's start."""
        flight, last = self._join()
        if flight is None:
            return last.failure if last else None
        flight.done.wait(max(flight.started_at + self.deadline - self.clock(), 0.0))
        if flight.verdict is not None:
            return flight.verdict.failure
        waited = self.clock() - flight.started_at
        return self.unhealthy, f"{self.name} gave no answer for {waited:.1f} s (deadline {self.deadline:g} s)"

    def _join(self) -> tuple[Flight | None, Verdict | None]:
        """The run to wait for (started if none is in flight and the last
        verdict is stale), or none and the fresh last verdict."""
        with self._lock:
            now = self.clock()
            if self._flight is None and self._last is not None and now - self._last.finished_at < self.fresh_for:
                return None, self._last
            if self._flight is None:
                self._flight = Flight(started_at=now)
                threading.Thread(target=self._run, args=(self._flight,), name=f"probe {self.name}", daemon=True).start()
            return self._flight, None

    def _run(self, flight: Flight) -> None:
        failure: tuple[type[Exception], str] | None = None
        try:
            self.check()
        except self.reported as exc:
            failure = type(exc), str(exc.args[0]) if exc.args else ""  # raised afresh as type(message)
        except Exception:
            log.exception("health probe %s failed unexpectedly", self.name)
            failure = self.unhealthy, f"{self.name}: unexpected error (logged)"
        verdict = Verdict(finished_at=self.clock(), failure=failure)
        with self._lock:
            self._last, self._flight = verdict, None
        flight.verdict = verdict
        flight.done.set()
