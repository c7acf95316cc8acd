"""The production run under test: the Procfile's processes started by honcho,
a PostgreSQL cluster or a Redis server of the test's own, HTTP clients that
post signed attestations and sort every answer, and the checks every drill
ends with.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

BIN = Path(sys.executable).parent
ROOT = Path(settings.BASE_DIR)
# A client that waits longer than this for an answer counts as hung: the
# drills fail on any hang.
CLIENT_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, what: str, timeout: float = 60.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def database_url(db: dict) -> str:
    user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def production_environment(var_dir: Path, database: str, broker: str, cache: str | None = None, **extra) -> dict:
    """docs/operators.md's production environment (CAIRN_HTTPS aside: the test speaks
    plain HTTP to 127.0.0.1), with the services given."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CAIRN_", "DJANGO_", "CELERY_", "PYTEST_")) and key not in {"DATABASE_URL", "CACHE_URL"}
    }
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DEBUG": "0",
            "SECRET_KEY": "drill-secret-key-of-more-than-fifty-characters-0123456789",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # bin/proxy's nginx, on this host, vouches for the clients' addresses.
            "CAIRN_TRUSTED_PROXIES": "127.0.0.1,::1",
            "DATABASE_URL": database,
            "CELERY_BROKER_URL": broker,
            "CAIRN_VAR_DIR": str(var_dir),
            "CAIRN_DEV_KEY_DIR": str(settings.CAIRN_DEV_KEY_DIR),
            "LEDGER_SIGNING_KEY": "",
            "LEDGER_ORIGIN": settings.LEDGER_ORIGIN,
            "WEB_CONCURRENCY": "2",
            "CAIRN_WEB_THREADS": "4",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if cache:
        env["CACHE_URL"] = cache
    env.update({key: str(value) for key, value in extra.items()})
    return env


def socket_dir() -> Path:
    """A new short directory for the sequencer's socket (AF_UNIX paths are
    at most 108 bytes: pytest's tmp_path can be longer); Procfile.stop removes it."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="cairn-run-", dir="/tmp"))


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = [int(child) for child in (task / "children").read_text().split()]
                found += children
                queue += children
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Procfile:
    """`honcho start` of the repository's Procfile, as production runs it."""

    def __init__(self, env: dict, log: Path) -> None:
        env = {**env, "CAIRN_SEQUENCER_SOCKET": str(socket_dir() / "sequencer.sock")}
        self.port = free_port()
        self.log_path = log
        self.log = open(log, "wb")  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            [str(BIN / "honcho"), "--no-colour", "-f", "Procfile", "start", "-p", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.env = env
        self.socket = Path(env["CAIRN_SEQUENCER_SOCKET"])

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self, needle: str) -> list[int]:
        return [pid for pid in descendants(self.process.pid) if needle in command_line(pid)]

    def sequencer_pid(self) -> int | None:
        """The run_sequencer process (not the shell loop that restarts it)."""
        for pid in self.pids("run_sequencer"):
            argv = _argv(pid)
            if len(argv) > 2 and argv[1].endswith("manage.py") and argv[2] == "run_sequencer":
                return pid
        return None

    def sequencer_listens(self) -> bool:
        """A process accepts on the socket (a file left by a dead one does not)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(1)
                probe.connect(str(self.socket))
            return True
        except OSError:
            return False

    def gunicorn_workers(self) -> list[int]:
        """gunicorn's workers: gunicorn processes whose parent is gunicorn."""
        pids = {pid for pid in self.pids("gunicorn") if any(arg.endswith("/gunicorn") for arg in _argv(pid)[:2])}
        return sorted(pid for pid in pids if _parent(pid) in pids)

    def answers(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/api/v1/log/key")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 90.0) -> None:
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"honcho exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            return self.answers() and self.sequencer_listens() and self.sequencer_pid()

        wait_until(ready, "the Procfile's processes to answer", timeout)

    def stop(self, timeout: float = 40.0) -> float:
        """SIGTERM to honcho, which stops every process; returns the seconds
        it took. Raises if anything is left running."""
        started = time.monotonic()
        everything = [self.process.pid, *descendants(self.process.pid)]
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"honcho did not stop in {timeout:.0f} s:\n{self.output()[-3000:]}") from None
        finally:
            self.log.close()
        if not self.socket.exists():  # else left for the caller to see
            shutil.rmtree(self.socket.parent, ignore_errors=True)
        left = [pid for pid in everything if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        if left:
            self.kill()
            raise AssertionError(f"processes left after stop: {[command_line(pid) for pid in left]}")
        return time.monotonic() - started

    def kill(self) -> None:
        """Last resort in a test's cleanup: the whole session, at once."""
        pids = [self.process.pid, *descendants(self.process.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if not self.log.closed:
            self.log.close()


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# --- services of the test's own ------------------------------------------------


def _as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root: run them as `postgres` then."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


class PostgresCluster:
    """A throwaway PostgreSQL cluster in `directory` on a free port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        initdb = shutil.which("initdb") or _pg_bin("initdb")
        subprocess.run(
            [*_as_postgres_user(), initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.start()

    def pg_ctl(self, *args: str) -> None:
        pg_ctl = shutil.which("pg_ctl") or _pg_bin("pg_ctl")
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *_as_postgres_user(),
                pg_ctl,
                "-D",
                str(self.data),
                "-l",
                str(self.directory / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )

    def start(self) -> None:
        self.pg_ctl("start")

    def restart(self) -> None:
        """An immediate restart: connections are cut, as a crash would."""
        self.pg_ctl("restart", "-m", "immediate")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.pg_ctl("stop", "-m", "immediate")

    def url(self, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found")
    return str(found[-1])


class RedisServer:
    """A redis-server of the test's own on a free port (no persistence)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._pings, "redis-server to answer", 20)

    def _pings(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


# --- clients -------------------------------------------------------------------


@dataclass
class Tally:
    """Every answer the clients got, sorted."""

    sent: int = 0
    created: dict[int, str] = field(default_factory=dict)  # index -> entry_hash of every 201
    reposts: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # "503 code", "closed", ...
    bad: list[str] = field(default_factory=list)  # answers outside the contract
    longest: float = 0.0
    seconds: float = 0.0  # how long the load lasted
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def summary(self) -> str:
        errors = ", ".join(f"{kind}: {n}" for kind, n in sorted(self.errors.items())) or "none"
        return (
            f"posts sent {self.sent}, 201s {len(self.created)}, 200 re-posts {self.reposts}, "
            f"errors by kind: {errors}; longest wait {self.longest:.1f} s; load lasted {self.seconds:.1f} s"
        )


def post(port: int, token: str, body: bytes, path: str = "/api/v1/attestations", timeout: float = CLIENT_TIMEOUT):
    """(status, parsed JSON body) or (None, 'closed'); raises TimeoutError on a hang."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": "application/json", "Authorization": f"Token {token}"}
        )
        response = conn.getresponse()
        raw = response.read()
    except TimeoutError:
        raise
    except (ConnectionError, http.client.HTTPException, OSError):
        return None, "closed"
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw


def record(tally: Tally, status, body, waited: float) -> None:
    """Sort one answer into `tally`. Refusals must be the contract's error body."""
    with tally.lock:
        tally.sent += 1
        tally.longest = max(tally.longest, waited)
        if status is None:
            tally.count("closed")
        elif status == 201:
            tally.created[body["index"]] = body["entry_hash"]
        elif status == 200:
            tally.reposts += 1
            tally.created.setdefault(body["index"], body["entry_hash"])
        else:
            error = body.get("error") if isinstance(body, dict) else None
            code = error.get("code") if isinstance(error, dict) else None
            if _status_of(code) != status or not isinstance(error.get("message"), str):
                tally.bad.append(f"{status}: {body!r:.200}")
            else:
                tally.count(f"{status} {code}")


def _status_of(code) -> int | None:
    """The status of a contract code; 500 `server_error` (docs/decisions.md)."""
    from provenance.errors import STATUS_BY_CODE

    return 500 if code == "server_error" else STATUS_BY_CODE.get(code)


def load(port: int, clients: list[tuple[str, list[bytes]]], tally: Tally, during=None, pause: float = 0.0) -> None:
    """Each client posts its bodies in order from its own thread. A body
    refused by a failure (no answer, 5xx) is posted again, as a client would,
    until it lands; `during()` runs on this thread meanwhile."""

    def client(token: str, bodies: list[bytes]) -> None:
        for body in bodies:
            for _attempt in range(100):
                started = time.monotonic()
                try:
                    status, answer = post(port, token, body)
                except TimeoutError:
                    with tally.lock:
                        tally.sent += 1
                        tally.bad.append(f"no answer within {CLIENT_TIMEOUT:.0f} s")
                    return
                record(tally, status, answer, time.monotonic() - started)
                if status is not None and status < 500:
                    break
                time.sleep(0.2)
            time.sleep(pause)

    threads = [threading.Thread(target=client, args=item) for item in clients]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        if during is not None:
            during()
    finally:
        for thread in threads:
            thread.join(timeout=CLIENT_TIMEOUT * 30)
        tally.seconds = time.monotonic() - started
    assert not any(thread.is_alive() for thread in threads), "a client thread never finished"


# --- a ledger database of the test's own ---------------------------------------

SUPPLIERS_SCRIPT = """
import json, os
from provenance.keys import register_key
from provenance.organizations import create_organization
tokens = {}
for slug, public_key, roles in json.loads(os.environ["DRILL_SUPPLIERS"]):
    org, token = create_organization(slug=slug, name=slug, country="AU", roles=roles)
    register_key(organization=org, public_key_b64=public_key)
    tokens[slug] = token.key
print(json.dumps(tokens))
"""


@dataclass
class Supplier:
    slug: str
    token: str
    keyid: str
    private_key: object

    def origin_payload(self, name: str) -> dict:
        """The payload of an origin of the new batch `<slug>:<name>`."""
        from django.utils import timezone

        from cairn_core.payload import SCHEMA

        return {
            "schema": SCHEMA,
            "type": "origin",
            "issuer": self.slug,
            "issued_at": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "activity": "extraction",
            "site": {"name": "Greenbushes", "country": "AU"},
            "outputs": [
                {
                    "batch": f"{self.slug}:{name}",
                    "material": "spodumene concentrate",
                    "quantity": "1000",
                    "unit": "kg",
                    "minerals": {"lithium": "60"},
                    "value_added_usd": "1200",
                }
            ],
        }

    def envelope(self, payload: bytes) -> dict:
        """The DSSE envelope of `payload` bytes signed with this key, as stored."""
        from cairn_core import dsse
        from cairn_core.payload import PAYLOAD_TYPE

        return dsse.sign(PAYLOAD_TYPE, payload, [(self.keyid, self.private_key)]).to_stored()

    def origin(self, name: str) -> bytes:
        """A signed origin of the new batch `<slug>:<name>` as a client posts it."""
        return json.dumps(self.envelope(json.dumps(self.origin_payload(name)).encode())).encode()


def entry_hash_of(body: bytes) -> str:
    from cairn_core import dsse

    return dsse.parse_envelope(body).entry_hash


def manage(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def make_suppliers(env: dict, count: int, roles: dict[str, list[str]] | None = None) -> list[Supplier]:
    """`count` supplier organisations with a registered key each, in env's
    database, and the organisations `roles` names (slug: roles)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cairn_core import dsse

    wanted = {f"drill-mine-{n}": ["supplier"] for n in range(count)} | (roles or {})
    keys = {slug: Ed25519PrivateKey.generate() for slug in wanted}
    listed = [(slug, dsse.b64encode(dsse.raw_public_key(key)), wanted[slug]) for slug, key in keys.items()]
    result = manage({**env, "DRILL_SUPPLIERS": json.dumps(listed)}, "shell", "-c", SUPPLIERS_SCRIPT)
    assert result.returncode == 0, result.stderr
    tokens = json.loads(result.stdout.strip().splitlines()[-1])
    return [Supplier(slug, tokens[slug], dsse.keyid_for(dsse.raw_public_key(key)), key) for slug, key in keys.items()]


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def assert_every_answer_holds(url: str, env: dict, tally: Tally, bodies: list[bytes]) -> None:
    """What every drill ends with: each 201 is in the log at its index with its
    entry_hash; indexes are contiguous with no duplicate; every body posted
    (each retried until it landed) is in the log once; the clients got the
    contract's error bodies or a closed connection and never hung;
    verify_ledger exits 0."""
    logged = dict(query(url, "SELECT index, entry_hash FROM provenance_entry"))
    for index, entry_hash in tally.created.items():
        assert logged.get(index) == entry_hash, f"answered 201 for index {index}, the log holds {logged.get(index)}"
    assert sorted(logged) == list(range(len(logged))), "indexes are not contiguous"
    assert len(set(logged.values())) == len(logged), "a statement is logged twice"
    expected = {entry_hash_of(body) for body in bodies}
    assert expected <= set(logged.values()), f"{len(expected - set(logged.values()))} posted statements never landed"
    assert not tally.bad, f"answers outside the contract: {tally.bad[:5]}"
    result = manage(env, "verify_ledger", "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr


def needs_services():
    if connection.vendor != "postgresql":
        pytest.skip("the production run needs PostgreSQL")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the production run needs CELERY_BROKER_URL=redis://...")


CLIENTS = 4


def finish(name: str, what: str, run: Procfile, env, ledger_db, tally, clients, figures: dict) -> None:
    try:
        assert_every_answer_holds(ledger_db, env, tally, [body for _, bodies in clients for body in bodies])
    finally:
        run.stop()
    recovered = ", ".join(f"{key} {value}" for key, value in figures.items())
    print(f"\nDRILL {name}: {what}\n  {tally.summary()}\n  recovery: {recovered}")
