"""Cairn settings, read from the environment.

Every setting that differs between a laptop and production comes from an
environment variable; the defaults give a newcomer a working SQLite install
with no servers. See docs/operators.md, "Configuration".
"""

import ipaddress
import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CAIRN_VAR_DIR", BASE_DIR / "var"))


TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_bool(name: str, default: bool = False) -> bool:
    """A yes/no setting; unset or empty gives `default`. Anything else than
    the words above stops start-up: `CAIRN_HTTPS=ture` must not mean plain HTTP."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in TRUE_WORDS | FALSE_WORDS:
        words = ", ".join(sorted(TRUE_WORDS | FALSE_WORDS))
        raise ImproperlyConfigured(f"{name}={os.environ[name]!r} is not a yes/no value (one of {words})")
    return value in TRUE_WORDS


def env_int(name: str, default: int) -> int:
    """A whole-number setting; unset or empty gives `default`, anything else
    that is not a whole number stops start-up with the variable's name."""
    return int(_env_number(name, default, int))


def env_float(name: str, default: float) -> float:
    """A number setting (seconds, mostly), read as `env_int` is."""
    return float(_env_number(name, default, float))


def _env_number(name: str, default: Any, kind: type) -> Any:
    value = os.environ.get(name, "").strip()
    if not value:
        return kind(default)
    try:
        return kind(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={os.environ[name]!r} is not {'a whole number' if kind is int else 'a number'}"
        ) from None


def env_json(name: str, default: Any) -> Any:
    """A JSON setting; unset or empty gives `default`, JSON that does not
    parse stops start-up with the variable's name."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)


def _read_or_create_secret_key() -> str:
    """A random key kept in VAR_DIR, for installs that set no SECRET_KEY."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _read_or_create_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")

# CAIRN_HTTPS=1: TLS ends at a proxy in front of Cairn, which sets
# X-Forwarded-Proto (and must strip any the client sent). Cookies are then
# secure-only, plain HTTP is redirected to HTTPS (but /health, which load
# balancers ask directly), and browsers are told to use HTTPS only (HSTS).
# Without it, Cairn serves plain HTTP, as on 127.0.0.1 for development.
CAIRN_HTTPS = env_bool("CAIRN_HTTPS", False)

# The proxies whose X-Forwarded-For is believed (addresses or networks, e.g.
# 127.0.0.1,::1 for the reverse proxy of deploy/): the throttles and the
# admin's login lockout know a client by the address they vouch for
# (provenance.api.client_address). Empty: the connecting peer is the client.
CAIRN_TRUSTED_PROXIES = env_list("CAIRN_TRUSTED_PROXIES")
for _proxy in CAIRN_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"CAIRN_TRUSTED_PROXIES: {_proxy!r} is not an address or network") from _exc
if CAIRN_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^health$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("CAIRN_HSTS_SECONDS", 365 * 86400)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CAIRN_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("CAIRN_HSTS_PRELOAD", True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_countries",
    "simple_history",
    "health_check",
    "axes",
    "provenance",
    "agreements",
    "material_assistance",
    "audit",
]
# The demo (`make demo`: its supply chain and witnesses) is an app only where
# it runs: CAIRN_DEMO=1, which `make demo` sets. Production never loads it.
CAIRN_DEMO = env_bool("CAIRN_DEMO", False)
if CAIRN_DEMO:
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "provenance.api.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from STATIC_ROOT (`collectstatic`) whatever DEBUG says, so
    # that `make demo` (DEBUG off) and gunicorn serve the admin's CSS and JS.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "provenance.api.middleware.RequestBodyLimitMiddleware",
    "provenance.api.middleware.RateLimitHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database. PostgreSQL connections are kept open between requests: opening
# one per request costs more than the insert it serves. Health checks are
# off by default: they add a round trip to every request; a connection that
# broke fails one request and is replaced (CONN_HEALTH_CHECKS=1 to turn on).
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'cairn.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 600),
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has one writer at a time; IMMEDIATE makes every transaction take
    # the write lock when it begins, so concurrent appends queue instead of
    # failing with "database is locked" half-way through.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 30})
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's own queries bind parameters on the client and are parsed on
    # every call. The write path's statements (provenance.append.lookups, .bulk) bind
    # on the server and are prepared after this many uses on a connection,
    # which saves PostgreSQL most of its CPU on them. Empty turns preparing
    # off (for a pooler that cannot keep prepared statements).
    prepare = "CAIRN_PG_PREPARE_THRESHOLD"
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["prepare_threshold"] = env_int(prepare, 5) if os.environ.get(prepare, "5").strip() else None
    # Plan every execution for its own parameters: a generic plan cached
    # while a ledger table was still empty scans the whole table on every
    # lookup from then on (measured: PostgreSQL's CPU per append grew with
    # the log until autovacuum's next ANALYZE).
    options["options"] = (options.get("options", "") + " -c plan_cache_mode=force_custom_plan").strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES: dict[str, dict[str, object]] = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if os.environ.get("CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["CACHE_URL"],
            # A cache that is down or unreachable answers within these
            # seconds; the throttle then lets requests through (fail open).
            "OPTIONS": {
                "socket_connect_timeout": env_float("CACHE_TIMEOUT", 0.25),
                "socket_timeout": env_float("CACHE_TIMEOUT", 0.25),
            },
        }
    }

# Password logins (the admin's) are counted by django-axes, in the database
# (its access attempts and lockouts are listed in the admin). An address
# that fails CAIRN_LOGIN_FAILURE_LIMIT times is locked out for
# CAIRN_LOGIN_COOLOFF_MINUTES, and is told so on the login page with a 429;
# other addresses, and the same users logging in from them, are not. Locking
# by address rather than by username keeps a guesser from locking the real
# staff out of their own accounts. A successful login clears its address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("CAIRN_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("CAIRN_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "provenance.api.client_address.client_address"
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# One format for every date and time the admin shows (config/formats/en/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"

ADMINS = [tuple(item.split(":", 1)) for item in env_list("ADMINS")]
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", "cairn@localhost")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)

# --- REST API -------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "provenance.api.auth.OrganizationTokenAuthentication",
        "provenance.api.auth.CsrfCheckedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["provenance.api.throttles.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("CAIRN_THROTTLE_RATE", "6000/min")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["provenance.api.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "provenance.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

# Failed token authentications per client address (provenance.api.auth): a
# burst of N, then one every period / N; beyond it 429 `rate_limited`.
CAIRN_AUTH_FAILURE_RATE = os.environ.get("CAIRN_AUTH_FAILURE_RATE", "30/min")

SPECTACULAR_SETTINGS = {
    "TITLE": "Cairn API",
    "DESCRIPTION": "Tamper-evident provenance ledger for EV battery minerals (wire contract v1).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Enums stay inline: each endpoint's error codes are an enum of their own
    # (provenance/api/schema.py), not shared components.
    "POSTPROCESSING_HOOKS": [],
}

# --- Ledger ---------------------------------------------------------------
# An envelope larger than this is refused before it is parsed.
CAIRN_MAX_BODY_BYTES = 64 * 1024
# POST /attestations/batch (contract §9): the whole body; each envelope in it
# is held to CAIRN_MAX_BODY_BYTES.
CAIRN_MAX_BATCH_BODY_BYTES = 16 * 1024 * 1024
# The middleware above refuses larger API bodies before Django reads them.
DATA_UPLOAD_MAX_MEMORY_SIZE = CAIRN_MAX_BATCH_BODY_BYTES
# issued_at must lie within [now - PAST, now + FUTURE].
CAIRN_ISSUED_AT_MAX_FUTURE = timedelta(seconds=env_int("CAIRN_ISSUED_AT_MAX_FUTURE_SECONDS", 300))
CAIRN_ISSUED_AT_MAX_PAST = timedelta(seconds=env_int("CAIRN_ISSUED_AT_MAX_PAST_SECONDS", 30 * 86400))
# Group commit (provenance.append.sequencer): statements posted at once share one
# transaction and one WAL flush. Off: one transaction per statement.
CAIRN_GROUP_COMMIT = env_bool("CAIRN_GROUP_COMMIT", True)
# At most this many statements in one transaction: a tuning of the write
# path, not an operator's (not read from the environment).
CAIRN_SEQUENCER_BATCH = 256
# A request of more statements than this (a batch submission) is appended by
# its worker's own sequencer thread, not sent to the sequencer process: it
# is a group already, and the process, on one core, would parse and check
# every statement again (bench/ingest.py: batches of 100 and 1,000 at
# 1,834–2,096/s so, 1,121–1,309/s through the process). A tuning, not read
# from the environment.
CAIRN_SEQUENCER_PROCESS_MAX = 64
# A POST /attestations is answered within CAIRN_APPEND_TIMEOUT seconds: when
# its append is not confirmed by then, 503 `outcome_unknown` (re-post it).
CAIRN_APPEND_TIMEOUT = env_float("CAIRN_APPEND_TIMEOUT", 10)
# How long a worker waits for the sequencer process's answer, once that
# process's loop has stopped turning (a busy one is waited for), before
# appending by itself, and then how long it appends by itself before asking
# that process again.
CAIRN_SEQUENCER_TIMEOUT = env_float("CAIRN_SEQUENCER_TIMEOUT", 3)
CAIRN_SEQUENCER_RETRY_SECONDS = env_float("CAIRN_SEQUENCER_RETRY_SECONDS", 5)
# PostgreSQL: an append waits at most this long for the log's locks (then
# 503 `unavailable`, nothing stored).
CAIRN_APPEND_LOCK_TIMEOUT = env_float("CAIRN_APPEND_LOCK_TIMEOUT", 3)
# PostgreSQL: a writer idle this long inside its append transaction, holding
# the log's locks (stopped, hung), loses its session and so its locks.
# 0: never (saves a round trip per batch).
CAIRN_APPEND_IDLE_TIMEOUT = env_float("CAIRN_APPEND_IDLE_TIMEOUT", 2)
# Each new entry's EPCIS event (contract §11) is derived by a Celery task
# scheduled when its append commits; off, the first export derives it.
CAIRN_EPCIS_DERIVE_ON_APPEND = env_bool("CAIRN_EPCIS_DERIVE_ON_APPEND", True)
# A Unix socket where `manage.py run_sequencer` serves every web worker on the
# host (one batch for the whole host). Empty: each process appends with its
# own sequencer thread. Workers fall back to that when the socket is down.
CAIRN_SEQUENCER_SOCKET = os.environ.get("CAIRN_SEQUENCER_SOCKET", "")
# Seconds a web worker remembers a token's lookup for POST /attestations;
# the append transaction checks the token again (provenance.api.auth).
CAIRN_APPEND_AUTH_CACHE_SECONDS = env_float("CAIRN_APPEND_AUTH_CACHE_SECONDS", 10)
# Seconds; see provenance/append/sequencer.py. Lower means the sequencer waits less
# for the GIL between queries while it holds the log's tail lock. An
# interpreter's tuning, not an operator's: not read from the environment.
CAIRN_SWITCH_INTERVAL = 0.0002
# How stale the rules used at ingest (mineral list, agreement links) may be:
# a rule change is seen within a second (tests set 0); not an operator's.
CAIRN_RULES_RECHECK_SECONDS = 1.0
LEDGER_ORIGIN = os.environ.get("LEDGER_ORIGIN", "cairn.localhost/ledger")
# Path to a PKCS#8 PEM Ed25519 key. Unset: a development key is generated on
# first use under CAIRN_DEV_KEY_DIR, outside the repository.
LEDGER_SIGNING_KEY = os.environ.get("LEDGER_SIGNING_KEY", "")
# Called by the rule data's admin pages after each edit, inside its
# transaction, to append the change to the log (contract §12), with every
# regime's rule data as it was before the edit, read by the second: the rules
# apps (agreements, material_assistance) name the ledger's functions here
# instead of importing them.
CAIRN_RULE_CHANGE_RECORDER = "provenance.rule_changes.record_change"
CAIRN_RULE_DATA_READER = "provenance.rule_changes.rule_data"
# Witnesses (contract §10): a JSON list [{"url", "vkey"}, ...]. Each checkpoint
# is sent to every one of them (Celery, with retries); verifications use only
# a checkpoint cosigned by LEDGER_WITNESS_QUORUM of them (default: all).
LEDGER_WITNESSES = env_json("LEDGER_WITNESSES", [])
LEDGER_WITNESS_QUORUM = env_int("LEDGER_WITNESS_QUORUM", len(LEDGER_WITNESSES))
# Seconds a command or a verification waits for the quorum before giving up.
LEDGER_WITNESS_TIMEOUT = env_float("LEDGER_WITNESS_TIMEOUT", 30)
CAIRN_DEV_KEY_DIR = Path(
    os.environ.get(
        "CAIRN_DEV_KEY_DIR",
        Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "cairn",
    )
)

# --- Celery ---------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else f"file://{VAR_DIR / 'celery' / 'results'}"
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        # Kombu's exchange table (by default a control/ folder in the working directory).
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
# Tasks go to the broker; tests that want them run in place set this.
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The schedule lives in the database (audit/schedule.py, editable in the
# admin). These variables, when set, make beat set the checkpoint's and the
# incremental check's rows to that many seconds when it starts.
CELERY_BEAT_SCHEDULE = {
    name: {"task": task, "schedule": env_int(variable, 0)}
    for name, task, variable in (
        ("Publish checkpoint", "audit.publish_checkpoint", "CAIRN_CHECKPOINT_EVERY_SECONDS"),
        ("Integrity check (incremental)", "audit.check_incremental", "CAIRN_INCREMENTAL_CHECK_EVERY_SECONDS"),
        ("Integrity sweep", "audit.check_sweep", "CAIRN_SWEEP_EVERY_SECONDS"),
    )
    if os.environ.get(variable)
}
CELERY_TIMEZONE = "UTC"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# cairn.request (one line per HTTP request) and cairn.append (one line per
# appended entry) are JSON lines on stderr; everything else is plain text.
# CAIRN_REQUEST_LOG_LEVEL=WARNING silences the request lines.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "json": {"class": "logging.StreamHandler", "formatter": "json"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "cairn.request": {
            "handlers": ["json"],
            "level": os.environ.get("CAIRN_REQUEST_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        "cairn.append": {"handlers": ["json"], "level": "INFO", "propagate": False},
        # WeasyPrint (a verdict's PDF) logs each rendering step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- Health (GET /health, django-health-check) -----------------------------
# Entries not covered by a checkpoint for longer than this make /health fail
# (beat publishes every minute when the tree has grown).
# Each check of /health answers within CAIRN_HEALTH_DEADLINE seconds of its
# run's start, a part that has not answered by then reported as unhealthy;
# a result serves the probes of the next CAIRN_HEALTH_FRESH_SECONDS (audit.health).
CAIRN_HEALTH_DEADLINE = env_float("CAIRN_HEALTH_DEADLINE", 2)
CAIRN_HEALTH_FRESH_SECONDS = env_float("CAIRN_HEALTH_FRESH_SECONDS", 1)
CAIRN_HEALTH_CHECKPOINT_MAX_AGE = env_float("CAIRN_HEALTH_CHECKPOINT_MAX_AGE", 600)
# The longest interval (seconds) each periodic task may have in the beat
# schedule (audit.watchdog): longer, or disabled, is an incident and fails
# /health; no incremental check for twice its interval is one too.
CAIRN_CHECKPOINT_MAX_INTERVAL = env_float("CAIRN_CHECKPOINT_MAX_INTERVAL", 300)
CAIRN_INTEGRITY_MAX_INTERVAL = env_float("CAIRN_INTEGRITY_MAX_INTERVAL", 900)
CAIRN_FULL_CHECK_MAX_INTERVAL = env_float("CAIRN_FULL_CHECK_MAX_INTERVAL", 86400)
# Any change to a stored row of the log is found within this many seconds
# (audit.sweep): the sweep's schedule row may not run less often.
CAIRN_TAMPER_DETECTION_SECONDS = env_float("CAIRN_TAMPER_DETECTION_SECONDS", 300)
# Entries each sweep also checks in full, signatures included (the rolling part).
CAIRN_SWEEP_ROLLING_ENTRIES = env_int("CAIRN_SWEEP_ROLLING_ENTRIES", 16384)
# The key of the range seals' HMAC (audit.sweep); empty: derived from SECRET_KEY.
CAIRN_SEAL_KEY = os.environ.get("CAIRN_SEAL_KEY", "")
