"""What scheduling an append's EPCIS events costs the thread that appended.

After each batch commits, the sequencer schedules the new entries' EPCIS
events (provenance.tasks.schedule_epcis_events). Sending the Celery task
there held every next batch back by a broker round trip; now the indexes
are handed to a thread that sends what has gathered (provenance.gather).
This measures, per batch, the time the appending thread spends: a direct
`apply_async` (the old way) against `schedule_epcis_events`, for the
broker in CELERY_BROKER_URL (Redis) and for the embedded default (the
filesystem transport), and prints the ratio of each pair.

    python bench/epcis_schedule.py [--calls 300] [--redis redis://127.0.0.1:6379/14]

Nothing is derived: no Celery worker runs; the queue's messages are left
to expire (Redis: the database given, flushed before and after).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import statistics, sys, time
import django
django.setup()
from django.conf import settings
from provenance import tasks
settings.CAIRN_EPCIS_DERIVE_ON_APPEND = True
calls = int(sys.argv[1])

def per_call(schedule):
    times = []
    for n in range(calls):
        started = time.perf_counter()
        schedule([n * 4, n * 4 + 1, n * 4 + 2, n * 4 + 3])
        times.append(time.perf_counter() - started)
    return statistics.median(times), sum(times)

direct = per_call(lambda indexes: tasks.derive_epcis_events.apply_async((indexes,), retry=False))
gathered = per_call(tasks.schedule_epcis_events)
started = time.perf_counter()
assert tasks.flush_epcis_events(30)
drained = time.perf_counter() - started
print(f"{direct[0] * 1e6:.1f} {direct[1]:.4f} {gathered[0] * 1e6:.1f} {gathered[1]:.4f} {drained:.3f}")
"""


def measure(broker: str, calls: int) -> list[float]:
    var = tempfile.mkdtemp(prefix="cairn-bench-epcis-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CAIRN_VAR_DIR": var,
        "DATABASE_URL": f"sqlite:///{var}/unused.sqlite3",
    }
    env.pop("CELERY_BROKER_URL", None)
    if broker:
        env["CELERY_BROKER_URL"] = broker
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(calls)], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return [float(value) for value in out.stdout.split()]


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="batches scheduled, each way")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="flushed before and after")
    args = parser.parse_args()
    for name, broker in (("Redis", args.redis), ("filesystem (embedded default)", "")):
        if broker:
            flush_redis(broker)
        direct, direct_total, gathered, gathered_total, drained = measure(broker, args.calls)
        if broker:
            flush_redis(broker)
        print(
            f"{name:30} per batch: apply_async {direct:7.1f} µs, gathered {gathered:5.1f} µs "
            f"(ratio {gathered / direct:.3f}); {args.calls} batches: {direct_total * 1e3:.0f} ms vs "
            f"{gathered_total * 1e3:.1f} ms, the last lot sent {drained * 1e3:.0f} ms after"
        )


if __name__ == "__main__":
    main()
