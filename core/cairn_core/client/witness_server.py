"""`cairn witness serve`: C2SP tlog-witness over HTTP (https://c2sp.org/tlog-witness).

Serves `POST /add-checkpoint` for `cairn_core.tlog_witness.Witness`, which
holds the protocol; this module holds only HTTP and its bounds: a body of at
most 64 KiB with a Content-Length (411 without, 413 above), a deadline of
10 seconds to read a request, at most 64 connections at once (more are
closed at once), and a graceful stop on SIGTERM or SIGINT (requests under
way finish, answered only after their state is on disk). `GET /` answers the
witness's vkey and the origins it follows. Standard library only.

Running a witness (operators)
-----------------------------

A witness cosigns a Cairn log's checkpoints only after checking each one
extends the last it cosigned, so a proof carrying its cosignature shows the
log did not fork for it. To run one:

    cairn keygen witness.pem                      # an Ed25519 key, mode 0600
    cairn witness vkey --key witness.pem --name example.com/witness
    cairn witness serve --init --name example.com/witness --key witness.pem \\
        --log "$(curl -s https://cairn.example/api/v1/log/key | jq -r .verifier)" \\
        --state /var/lib/cairn-witness --listen 0.0.0.0:9101

`--init` is for the first start only: it creates the state directory and
records the witness's name and vkey in it; later starts omit it (and
`--name`), and refuse a state directory that is missing, unreadable, not
initialised, another witness's or in use by another process. Give the vkey
that `cairn witness vkey` prints to the log's operator (`LEDGER_WITNESSES`),
and give `--log` once per log key you trust; the key's name is the log's
origin.

The state directory holds `witness.json` (the witness's identity), one
`<origin>-<hash>.json` per log with the latest checkpoint cosigned (size,
root hash, the note, when), and `evidence/`: requests signed by the log
whose consistency proof failed or whose root conflicts with one already
cosigned, kept as proof of misbehaviour. Back up the whole directory and the
key file; the state changes with every checkpoint, so back it up often, or
on storage that survives a disk's loss.

A witness that loses its state must be retired: it no longer knows what it
cosigned, so it could cosign a fork of a log it already cosigned. Do not
re-`--init` the old key: make a new key and name, start it with `--init`,
and ask each log's operator to replace the old vkey with the new one.
(Restoring an older backup has the same risk for the checkpoints cosigned
since, so prefer retirement to a restore.)
"""

from __future__ import annotations

import http.server
import json
import logging
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

from cairn_core.tlog_witness import MAX_BODY, TEXT_TYPE, Response, Witness

log = logging.getLogger("cairn.witness")

READ_DEADLINE = 10.0  # seconds to receive one request, headers and body
MAX_CONNECTIONS = 64
ADD_CHECKPOINT = "/add-checkpoint"


class WitnessServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server for one Witness, with a cap on connections."""

    # Join the request threads on close: a stop waits for requests under way.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        self.witness = witness
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Bound the threads: a connection over the cap is closed, not queued.
        if not self.slots.acquire(blocking=False):
            log.warning("refused a connection from %s: %d at once", client_address, MAX_CONNECTIONS)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Handler(http.server.BaseHTTPRequestHandler):
    server: WitnessServer
    timeout = READ_DEADLINE  # each read of the socket
    server_version = "cairn-witness"

    def setup(self) -> None:
        super().setup()
        self.deadline = time.monotonic() + READ_DEADLINE

    def do_POST(self) -> None:  # http.server names the handlers
        if self.path != ADD_CHECKPOINT:
            self._answer(Response(404, TEXT_TYPE, b"not found: POST /add-checkpoint\n"))
            return
        body = self._read_body()
        if body is None:
            return
        try:
            response = self.server.witness.add_checkpoint(body)
        except OSError:
            # The state (or evidence) could not be written: no cosignature.
            log.exception("cannot write the witness's state")
            response = Response(500, TEXT_TYPE, b"the witness cannot write its state\n")
        self._answer(response)

    def do_GET(self) -> None:
        if self.path != "/":
            self._answer(Response(404, TEXT_TYPE, b"not found\n"))
            return
        witness = self.server.witness
        info = {"vkey": witness.vkey, "origins": sorted(witness.logs), "protocol": "c2sp.org/tlog-witness"}
        self._answer(Response(200, "application/json", (json.dumps(info, sort_keys=True) + "\n").encode()))

    def _read_body(self) -> bytes | None:
        """The request body, or None once an error has been answered."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._answer(Response(411, TEXT_TYPE, b"send a Content-Length, not chunks\n"))
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(Response(411, TEXT_TYPE, b"a Content-Length is required\n"))
            return None
        if not 0 <= length <= MAX_BODY:
            self._answer(Response(413, TEXT_TYPE, f"the body is at most {MAX_BODY} bytes\n".encode()))
            return None
        return self._read_exactly(length)

    def _read_exactly(self, length: int) -> bytes | None:
        """Read `length` bytes before the request's deadline (None: given up, connection closed)."""
        chunks, received = [], 0
        while received < length:
            remaining = self.deadline - time.monotonic()
            self.connection.settimeout(max(remaining, 0.001))
            try:
                chunk = self.rfile.read1(min(length - received, 16384)) if remaining > 0 else b""
            except TimeoutError:
                chunk = b""
            if not chunk:
                self._give_up(f"the body did not arrive in full within {READ_DEADLINE:g} s")
                return None
            chunks.append(chunk)
            received += len(chunk)
        return b"".join(chunks)

    def _give_up(self, reason: str) -> None:
        log.info("%s: %s", self.client_address[0], reason)
        self.close_connection = True

    def _answer(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # the base class names it `format`
        log.info("%s %s", self.client_address[0], format % args)


def bind(witness: Witness, host: str, port: int) -> WitnessServer:
    """A server for `witness` bound to host:port (port 0: any free port)."""
    return WitnessServer((host, port), witness)


def serve(server: WitnessServer) -> None:
    """Serve until SIGTERM or SIGINT, then finish the requests under way and return."""

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping on signal %d", signum)
        # shutdown() waits for serve_forever, which runs in this thread: ask from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
