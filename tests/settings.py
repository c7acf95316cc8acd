"""The settings the test suite runs with: Cairn's own, with a fast password hasher.

Tests create and log in many users; PBKDF2's deliberate slowness cost the
admin and demo tests more than half their time. Processes the tests start
(manage.py, gunicorn, Celery) inherit DJANGO_SETTINGS_MODULE and read the
same hashes. The demo app is installed, as CAIRN_DEMO=1 does. Nothing else
differs from `config.settings`.
"""

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The tests load the demo's supply chain (load_demo), as `make demo` does.
if "demo" not in INSTALLED_APPS:  # noqa: F405
    INSTALLED_APPS = [*INSTALLED_APPS, "demo"]  # noqa: F405
