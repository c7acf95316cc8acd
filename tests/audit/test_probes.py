"""audit.probes: a check that hangs costs each request at most its deadline,
and no more than one thread however many requests ask."""

import threading
import time

from audit.probes import Probe


class Unhealthy(Exception):
    pass


class Hang:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.runs = 0

    def __call__(self) -> None:
        self.runs += 1
        self.release.wait(30)
        raise Unhealthy("released at last")


def probe(check, deadline=0.5, fresh_for=0.0) -> Probe:
    return Probe("part", check, deadline=deadline, fresh_for=fresh_for, reported=(Unhealthy,), unhealthy=RuntimeError)


def test_twenty_requests_at_once_share_one_run_and_its_deadline():
    hang = Hang()
    part = probe(hang)
    answers: list[tuple[float, object]] = []
    started = time.monotonic()

    def ask():
        failure = part.failure()
        answers.append((time.monotonic() - started, failure))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    try:
        assert len(answers) == 20
        assert max(waited for waited, _ in answers) < 0.5 + 0.3
        assert hang.runs == 1
        kind, message = answers[0][1]
        assert kind is RuntimeError and message.startswith("part gave no answer for 0.5 s")
        # While the run still hangs, a new request is answered at once.
        begun = time.monotonic()
        assert part.failure()[0] is RuntimeError
        assert time.monotonic() - begun < 0.1 and hang.runs == 1
    finally:
        hang.release.set()


def test_a_run_that_ends_reports_and_the_next_request_runs_again():
    hang = Hang()
    part = probe(hang)
    assert part.failure()[0] is RuntimeError
    hang.release.set()
    time.sleep(0.05)
    assert part.failure() == (Unhealthy, "released at last")
    assert hang.runs == 2


def test_a_fresh_result_is_reused_and_a_stale_one_is_not():
    runs = []
    part = probe(lambda: runs.append(1), fresh_for=60)
    assert part.failure() is None and part.failure() is None
    assert len(runs) == 1
    part.fresh_for = 0
    assert part.failure() is None and len(runs) == 2


def test_an_unexpected_error_is_unhealthy_and_named():
    def broken():
        raise KeyError("x")

    assert probe(broken).failure() == (RuntimeError, "part: unexpected error (logged)")
