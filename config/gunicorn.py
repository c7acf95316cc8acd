"""gunicorn's settings for Cairn: `gunicorn -c config/gunicorn.py config.wsgi`.

Command-line options override these. What gunicorn refuses itself, before
Cairn sees the request (a request line or headers over its limits, a
malformed request), it answers in the contract's error body (§6) instead
of its own HTML page, keeping its status (400, 414, 431, …).
"""

from __future__ import annotations

import json
import os
import socket

from gunicorn import util

# Behind the proxy (bin/proxy, deploy/): gunicorn listens on loopback only,
# at CAIRN_WEB_BIND or 127.0.0.1:$PORT, where the proxy alone is meant to
# reach it; `--bind` on the command line overrides this.
bind = [os.environ.get("CAIRN_WEB_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"]
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("CAIRN_WEB_THREADS", "8"))
# gunicorn's largest request line (a URL of about 8 KB) and header sizes.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# A request is answered within CAIRN_APPEND_TIMEOUT (10 s) plus its own
# work; a worker silent this long is restarted.
timeout = 30
graceful_timeout = 30
keepalive = 5

CODE_BY_STATUS = {403: "forbidden", 500: "server_error"}


def write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn.util.write_error, answering in the contract's error body."""
    code = CODE_BY_STATUS.get(status_int, "bad_request")
    body = json.dumps({"error": {"code": code, "message": f"{reason}: {mesg}"}})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, (head + body).encode("latin-1"))


util.write_error = write_error
