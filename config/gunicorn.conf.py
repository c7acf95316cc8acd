"""gunicorn's settings for the production run (Procfile's `web`).

Read from the environment like Cairn's own settings: `PORT` (set by the
Procfile runner), `CAIRN_BIND` to listen elsewhere, `GUNICORN_WORKERS`,
`GUNICORN_THREADS`. Threaded workers keep keep-alive clients; the master
starts a new worker whenever one dies.
"""

import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("CAIRN_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# gthread keeps at most (worker_connections - threads) idle keep-alive
# connections per worker.
worker_connections = threads * 4
keepalive = 30
# A request that takes longer than this is stuck: its worker is restarted.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# On SIGTERM, requests in flight get this long to finish.
graceful_timeout = 20
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # empty: none
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Behind a proxy that ends TLS (CAIRN_HTTPS=1): trust X-Forwarded-* from it.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
