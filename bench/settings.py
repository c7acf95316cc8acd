"""Settings for benchmark servers: Cairn's own, plus a no-op baseline endpoint."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# Throttling is per token; the benchmark's clients share a few tokens.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "10000000/min"}}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": True}
