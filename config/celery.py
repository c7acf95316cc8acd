"""The Celery application.

The broker comes from CELERY_BROKER_URL. Without it, Cairn uses Kombu's
filesystem transport under var/celery so that `make demo` runs a worker and
beat with no server; production and CI use Redis.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("cairn")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_after_configure.connect
def _make_filesystem_folders(sender: Celery, **kwargs: object) -> None:
    """The filesystem broker and file result backend need their folders."""
    from pathlib import Path

    from django.conf import settings

    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    folders = [options.get(key) for key in ("data_folder_in", "data_folder_out", "processed_folder")]
    if settings.CELERY_RESULT_BACKEND.startswith("file://"):
        folders.append(settings.CELERY_RESULT_BACKEND.removeprefix("file://"))
    for folder in filter(None, folders):
        Path(str(folder)).mkdir(parents=True, exist_ok=True)


# Each app's `tasks`, and audit's checkpoint publishing (audit/checkpoint_tasks.py).
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="checkpoint_tasks")
