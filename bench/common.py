"""Shared benchmark plumbing: a fresh PostgreSQL database, a gunicorn server,
keep-alive HTTP clients on threads, and medians."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
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


def setup_django(database_url: str, settings: str = "bench.settings") -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
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
    """gunicorn with `workers` processes of `threads` threads (keep-alive capable),
    and with `sequencer`, a `run_sequencer` process serving their appends."""

    def __init__(
        self,
        database_url: str,
        workers: int = 2,
        threads: int = 8,
        connections: int = 16,
        sequencer: bool = False,
        port: int = 0,
    ) -> None:
        self.port = port or free_port()
        self.workers, self.threads = workers, threads
        env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "bench.settings"}
        self.sequencer = None
        if sequencer:
            path = Path(tempfile.mkdtemp(prefix="cairn-bench-")) / "sequencer.sock"
            env["CAIRN_SEQUENCER_SOCKET"] = str(path)
            self.sequencer = subprocess.Popen(
                [PYTHON, "manage.py", "run_sequencer"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
            )
            _wait_for(path.is_socket, "the sequencer did not start", self.stop)
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
        _wait_for(self._answers, "gunicorn did not start", self.stop)

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def pids(self) -> list[int]:
        """The gunicorn master's and workers' pids."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [self.process.pid, *map(int, children.read_text().split())]

    def sequencer_pids(self) -> list[int]:
        return [self.sequencer.pid] if self.sequencer else []

    def stop(self) -> None:
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        if self.sequencer is not None and self.sequencer.poll() is None:
            self.sequencer.terminate()
            self.sequencer.wait(timeout=20)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_for(ready, failure: str, cleanup) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    cleanup()
    raise RuntimeError(failure)


def worker_of(conn: http.client.HTTPConnection) -> int:
    """The pid of the gunicorn worker holding keep-alive connection `conn`."""
    conn.request("GET", "/bench/worker")
    response = conn.getresponse()
    return json.loads(response.read())["pid"]


def balanced_connections(port: int, clients: int, workers: int) -> tuple[list[http.client.HTTPConnection], list[int]]:
    """`clients` keep-alive connections spread evenly over the server's workers.

    A keep-alive connection stays with the worker that accepted it, and which
    worker accepts is a race: left alone, one worker often takes nearly every
    client and the other idles, and a 2-worker server is measured as one.
    A load balancer in front would spread them, so the benchmark does:
    connections beyond a worker's share are held open, which keeps that
    worker's accept queue busy, until every worker has its share; the extras
    are then closed. Returns the connections and each one's worker pid.
    """
    share = -(-clients // workers)  # ceiling
    kept: list[tuple[http.client.HTTPConnection, int]] = []
    extras: list[http.client.HTTPConnection] = []
    counts: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while len(kept) < clients:
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not spread {clients} connections over {workers} workers: {counts}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        pid = worker_of(conn)
        if counts.get(pid, 0) < share:
            counts[pid] = counts.get(pid, 0) + 1
            kept.append((conn, pid))
        else:
            extras.append(conn)
    for conn in extras:
        conn.close()
    return [conn for conn, _ in kept], [pid for _, pid in kept]


def post_all(
    connections: list[http.client.HTTPConnection], path: str, bodies: list[bytes], headers_for
) -> tuple[float, dict[int, int]]:
    """POST every body, client n sending bodies n, n + clients, … over connection n;
    return (seconds, status counts)."""
    clients = len(connections)
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    shares = [bodies[i::clients] for i in range(clients)]

    def client(number: int) -> None:
        conn = connections[number]
        local: dict[int, int] = {}
        for position, body in enumerate(shares[number]):
            headers = {"Content-Type": "application/json", **headers_for(number * 10**6 + position)}
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            local[response.status] = local.get(response.status, 0) + 1
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


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # the process ended
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


class CpuMeter:
    """CPU time per request spent by gunicorn, the sequencer process and
    PostgreSQL (Linux /proc): where the time goes, beside the rates."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, ...]] = []

    @contextmanager
    def measure(self, server: Server, requests: int):
        def snapshot() -> tuple[float, float, float]:
            return (
                sum(map(_cpu_seconds, server.pids())),
                sum(map(_cpu_seconds, server.sequencer_pids())),
                sum(map(_cpu_seconds, _postgres_pids())),
            )

        before = snapshot()
        yield
        after = snapshot()
        self.samples.append(tuple((a - b) / requests * 1000 for a, b in zip(after, before, strict=True)))

    def __str__(self) -> str:
        server, sequencer, database = (median([sample[i] for sample in self.samples]) for i in range(3))
        middle = f"sequencer {sequencer:.2f} ms, " if sequencer else ""
        return f"gunicorn {server:.2f} ms, {middle}PostgreSQL {database:.2f} ms (medians)"


def median(values: list[float]) -> float:
    return statistics.median(values)
