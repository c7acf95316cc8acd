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
app.autodiscover_tasks()
