"""Shared benchmark plumbing: a fresh PostgreSQL database, a gunicorn server,
keep-alive HTTP clients on threads, and medians."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def fresh_database(name: str) -> str:
    """Drop and create database `name`; return its URL (honours BENCH_DATABASE_URL)."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        return url
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("CAIRN_VAR_DIR", str(ROOT / "var" / "bench"))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with `workers` processes of `threads` threads (keep-alive capable)."""

    def __init__(self, database_url: str, workers: int = 2, threads: int = 8, connections: int = 16) -> None:
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "bench.settings"}
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "config.wsgi",
                f"--bind=127.0.0.1:{self.port}",
                f"--workers={workers}",
                "--worker-class=gthread",
                f"--threads={threads}",
                "--keep-alive=30",
                "--log-level=warning",
                # gthread keeps at most (connections - threads) idle keep-alive
                # connections per worker: below that it closes every connection.
                f"--worker-connections={connections}",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def post_all(port: int, path: str, bodies: list[bytes], headers_for, clients: int) -> tuple[float, dict[int, int]]:
    """POST every body over `clients` keep-alive connections; return (seconds, status counts)."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    shares = [bodies[i::clients] for i in range(clients)]

    def client(number: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local: dict[int, int] = {}
        for position, body in enumerate(shares[number]):
            headers = {"Content-Type": "application/json", **headers_for(number * 10**6 + position)}
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            local[response.status] = local.get(response.status, 0) + 1
        conn.close()
        with lock:
            for status, count in local.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, statuses


def median(values: list[float]) -> float:
    return statistics.median(values)
