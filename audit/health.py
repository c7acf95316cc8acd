"""GET /health for load balancers and monitors (django-health-check).

200 when every part Cairn needs answers, 500 naming the ones that do not:

* the database (the library's SELECT 1);
* the Celery broker (a connection; the API works without a worker, but
  checkpoints and integrity checks need the broker);
* the sequencer process, when CAIRN_SEQUENCER_SOCKET names one (its socket
  accepts a connection; while it is down, web workers append by themselves);
* the ledger key (it loads, and the latest checkpoint verifies under it);
* checkpoints keeping up: no entry has gone uncovered by a checkpoint for
  longer than CAIRN_HEALTH_CHECKPOINT_MAX_AGE seconds (beat or the worker
  stopped);
* the integrity checks' own schedule: every periodic task of
  audit/schedule.py present, enabled and frequent enough, and an
  incremental check finished within twice its interval (audit.watchdog;
  read only, from the database: no witness is asked here).

Unresolved integrity incidents make Cairn degraded, not down: `OpenIncidents`
names them as a warning and the answer stays 200 (a load balancer must not
take the ledger out of service because an auditor has work to do).

Answers JSON to `Accept: application/json` or `?format=json`, text or HTML
otherwise, as the library does; never cached by HTTP.

Every check runs through an audit.probes.Probe: one run at a time per check
and process, each request answered by CAIRN_HEALTH_DEADLINE seconds after
the run it waits for started (a part that does not answer by then is
reported as such), and a result reused for CAIRN_HEALTH_FRESH_SECONDS. So
/health never holds a request thread longer than its deadline, however a
part hangs, and probes arriving together cost one run of each check. A new
check is a HealthCheck subclass decorated with `@bounded`, listed in
CairnHealthView.checks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

from django.conf import settings
from django.db import connections
from health_check import checks
from health_check.base import HealthCheck
from health_check.exceptions import HealthCheckException, ServiceUnavailable, ServiceWarning
from health_check.views import HealthCheckView

from audit.probes import Probe

# Each check's probe in this process, by the check's repr.
PROBES: dict[str, Probe] = {}


def bounded(check: type[HealthCheck]) -> type[HealthCheck]:
    """Run `check` through this process's Probe of it (the module's docstring)."""
    run = check.run

    def bounded_run(self: HealthCheck) -> None:
        name = repr(self)
        probe = PROBES.get(name)
        if probe is None:
            probe = PROBES.setdefault(
                name,
                Probe(
                    name,
                    lambda: run(self),
                    deadline=settings.CAIRN_HEALTH_DEADLINE,
                    fresh_for=settings.CAIRN_HEALTH_FRESH_SECONDS,
                    reported=(HealthCheckException,),
                    unhealthy=ServiceUnavailable,
                ),
            )
        probe.deadline, probe.fresh_for = settings.CAIRN_HEALTH_DEADLINE, settings.CAIRN_HEALTH_FRESH_SECONDS
        failure = probe.failure()
        if failure is not None:
            kind, message = failure
            raise kind(message)

    check.run = bounded_run
    # The library's own timeout (plus its one second of grace) only backs ours up.
    check.timeout = property(lambda self: dt.timedelta(seconds=settings.CAIRN_HEALTH_DEADLINE + 1))
    return check


def _closing(check: type[HealthCheck]) -> type[HealthCheck]:
    """Close the database connections a check opened: sync checks run on an
    executor's threads, whose connections no request cycle ever closes."""
    run = check.run

    def closing_run(self: HealthCheck) -> None:
        try:
            run(self)
        finally:
            connections.close_all()

    check.run = closing_run
    return check


def _socket_timeout() -> float:
    """A check's own socket timeout: within the deadline, so that the check
    reports what failed before the deadline reports only that nothing came."""
    return settings.CAIRN_HEALTH_DEADLINE * 0.75


@bounded
@_closing
@dataclasses.dataclass
class Database(checks.Database):
    """The database answers SELECT 1 (django-health-check's check, bounded)."""


@bounded
@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection and answers."""

    def run(self) -> None:
        # The project's app (config.celery, loaded with the settings) is the current one.
        from celery import current_app

        # Every socket read and write bounded too: a Redis that accepts and
        # never answers fails here instead of holding the probe's thread.
        seconds = _socket_timeout()
        options = {"socket_timeout": seconds, "socket_connect_timeout": seconds}
        try:
            with current_app.connection_for_write(settings.CELERY_BROKER_URL, transport_options=options) as connection:
                connection.ensure_connection(max_retries=1, timeout=seconds)
                connection.default_channel  # noqa: B018 - Redis connects (and pings) only for a channel
        except Exception as exc:
            raise ServiceUnavailable(f"broker unreachable: {type(exc).__name__}") from exc


@bounded
@dataclasses.dataclass
class Sequencer(HealthCheck):
    """The run_sequencer process completes a handshake on CAIRN_SEQUENCER_SOCKET
    (if one is configured): a stopped process's socket still accepts
    connections (the kernel queues them), but only a running one answers."""

    def run(self) -> None:
        from provenance.append import process

        path = settings.CAIRN_SEQUENCER_SOCKET
        if not path:
            return
        try:
            # The workers' own connect: the same handshake, each read bounded.
            process._connect(path, time.monotonic() + _socket_timeout()).close()
        except Exception as exc:
            raise ServiceUnavailable(
                f"no sequencer process answers on CAIRN_SEQUENCER_SOCKET: {type(exc).__name__}"
            ) from exc


@bounded
@_closing
@dataclasses.dataclass
class LedgerKey(HealthCheck):
    """The ledger's key loads, and the latest checkpoint verifies under it."""

    def run(self) -> None:
        from provenance import checkpoints, ledger_key

        try:
            ledger_key.current()
        except Exception as exc:
            raise ServiceUnavailable(f"the ledger key does not load: {type(exc).__name__}") from exc
        latest = checkpoints.latest()
        if latest is not None and checkpoints.verify_note(latest) is not None:
            raise ServiceUnavailable("the latest checkpoint does not verify under the ledger key")


@bounded
@_closing
@dataclasses.dataclass
class CheckpointAge(HealthCheck):
    """No entry has waited longer than CAIRN_HEALTH_CHECKPOINT_MAX_AGE for a checkpoint."""

    def run(self) -> None:
        from provenance.models import Checkpoint, Entry, LogState

        covered = Checkpoint.objects.order_by("-tree_size").values_list("tree_size", flat=True).first() or 0
        size = LogState.objects.filter(id=1).values_list("size", flat=True).first() or 0
        if size <= covered:
            return
        waiting_since = Entry.objects.filter(index=covered).values_list("integrated_time", flat=True).first()
        age = time.time() - (waiting_since or time.time())
        if age > settings.CAIRN_HEALTH_CHECKPOINT_MAX_AGE:
            raise ServiceUnavailable(f"entry {covered} has waited {age:.0f} s for a checkpoint")


@bounded
@_closing
@dataclasses.dataclass
class IntegritySchedule(HealthCheck):
    """The periodic tasks are installed, enabled and frequent enough, and the checks are not stale."""

    def run(self) -> None:
        from django.utils import timezone

        from audit import watchdog

        problems = watchdog.schedule_problems(timezone.now())
        if problems:
            raise ServiceUnavailable("; ".join(problem.message for problem in problems))


@_closing
@dataclasses.dataclass
@bounded
class OpenIncidents(HealthCheck):
    """Integrity incidents not yet resolved: degraded (a warning), not down."""

    def run(self) -> None:
        from audit.models import IntegrityIncident

        unresolved = IntegrityIncident.objects.exclude(state=IntegrityIncident.State.RESOLVED)
        count = unresolved.count()
        if count:
            opened = unresolved.filter(state=IntegrityIncident.State.OPEN).count()
            raise ServiceWarning(f"degraded: {count} unresolved integrity incident(s), {opened} open")


class CairnHealthView(HealthCheckView):
    checks = (Database, Broker, Sequencer, LedgerKey, CheckpointAge, IntegritySchedule, OpenIncidents)

    async def get(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = await super().get(request, *args, **kwargs)
        failed = [result.error for result in self.results if result.error]
        if failed and all(isinstance(error, ServiceWarning) for error in failed):
            response.status_code = 200  # degraded, not down: the body names the warnings
        return response
