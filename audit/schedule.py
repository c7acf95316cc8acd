"""The periodic tasks, in one place (django-celery-beat, editable in the admin).

Installed by migration audit 0002 and by `install_schedule()`; existing rows
are never overwritten, so changes made in the admin survive deploys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from django.apps.registry import Apps


class When(TypedDict, total=False):
    """One of the two: an interval (every, period) or a crontab (minute, hour) in UTC."""

    interval: tuple[int, str]
    crontab: tuple[str, str]


# name -> (task, schedule).
SCHEDULE: dict[str, tuple[str, When]] = {
    # A signed checkpoint whenever the tree has grown since the last one.
    "Publish checkpoint": ("audit.publish_checkpoint", {"interval": (1, "minutes")}),
    # The entries logged since the last check, and the new checkpoints.
    "Integrity check (incremental)": ("audit.check_incremental", {"interval": (5, "minutes")}),
    # Every row of the log hashed against the latest checkpoint and the
    # seals, so that a change is found within CAIRN_TAMPER_DETECTION_SECONDS
    # (300 s by default: a sweep every 240 s, and the sweep's own time).
    "Integrity sweep": ("audit.check_sweep", {"interval": (240, "seconds")}),
    # Everything, nightly, split into ranges across the workers.
    "Integrity check (full)": ("audit.check_full", {"crontab": ("30", "2")}),
}


def install_schedule(apps: Apps | None = None) -> None:
    """Create the PeriodicTask rows that do not exist yet (idempotent)."""
    if apps is None:
        from django.apps import apps as installed

        apps = installed
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    interval = apps.get_model("django_celery_beat", "IntervalSchedule")
    crontab = apps.get_model("django_celery_beat", "CrontabSchedule")
    for name, (task, when) in SCHEDULE.items():
        if periodic_task.objects.filter(name=name).exists():
            continue
        if "interval" in when:
            every, period = when["interval"]
            schedule, _ = interval.objects.get_or_create(every=every, period=period)
            periodic_task.objects.create(name=name, task=task, interval=schedule)
        else:
            minute, hour = when["crontab"]
            schedule, _ = crontab.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone="UTC",
            )
            periodic_task.objects.create(name=name, task=task, crontab=schedule)
