"""A small transparency log served over HTTP, to show `cairn prove` logs that
Cairn's server would never serve: a log can be swapped for a forked,
rewritten or shrunk one between two calls, serve an older checkpoint, answer
503 or 429 with Retry-After, serve entries (GET /attestations/{index}) and
witness cosignatures after its own signature line. Proofs follow RFC 9162's
recursive definitions (§2.1.3.1 PATH, §2.1.4.1 SUBPROOF), written here
independently of cairn_core.merkle."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cairn_core import cosignature, dsse, signed_note
from cairn_core.client import statements


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def signed_entry(index: int, key: Ed25519PrivateKey, integrated_time: int = 1_700_000_000) -> dict:
    """An entry as GET /attestations/{index} serves it: a real envelope, its hashes."""
    envelope = dsse.sign("application/vnd.cairn.test+json", f'{{"n":{index}}}'.encode(), [("k1", key)]).to_stored()
    leaf_hash = leaf(statements.leaf_input(envelope, integrated_time))
    return {
        "index": index,
        "entry_hash": statements.entry_hash(envelope),
        "integrated_time": integrated_time,
        "leaf_hash": leaf_hash.hex(),
        "envelope": envelope,
        "cosigners": [],
    }


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return subproof(m, leaves[:k], whole) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


class FakeLog:
    """Serves /api/v1/log/{key,checkpoint,proof/inclusion,proof/consistency}
    for `self.leaves`, signed by its own key; assign `leaves` to swap logs.
    `entries` (index: body) are served at /api/v1/attestations/{index};
    `fail(route, status, …)` answers the next requests of a route with an
    error; `cosigners` (name, key) cosign every checkpoint served."""

    origin = "fake.example/log"

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.checkpoint_size: int | None = None  # serve another size than the log's (older, or beyond it)
        self.entries: dict[int, dict] = {}
        self.cosigners: list[tuple[str, Ed25519PrivateKey]] = []
        self.faults: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.requests: list[str] = []  # each route asked, in order
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = signed_note.verifier_string(self.origin, raw)
        self.raw_public_key = raw
        log = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                query = {name: int(values[0]) for name, values in parse_qs(url.query).items()}
                log.requests.append(url.path)
                headers: dict[str, str] = {}
                if log.faults.get(url.path):
                    status, headers = log.faults[url.path].pop(0)
                    body: object = {"error": {"code": "unavailable", "message": "try later"}}
                else:
                    status, body = log.answer(url.path, query)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLog:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def fail(self, route: str, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        """Answer the next `times` requests of `route` (e.g. "log/proof/consistency") with `status`."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.faults.setdefault(f"/api/v1/{route}", []).extend([(status, headers)] * times)

    def count(self, route: str) -> int:
        return self.requests.count(f"/api/v1/{route}")

    def note(self) -> str:
        """The checkpoint signed by the log alone."""
        size = len(self.leaves) if self.checkpoint_size is None else self.checkpoint_size
        return signed_note.sign_checkpoint(self.origin, size, mth(self.leaves[:size]), self.key)

    def checkpoint(self) -> str:
        """The checkpoint as served: the log's note, then each cosigner's line."""
        note = self.note()
        body = note.rpartition("\n\n")[0] + "\n"
        return note + "".join(cosignature.cosign(body, name, key, 1_700_000_000) + "\n" for name, key in self.cosigners)

    def add_cosigner(self, name: str) -> str:
        """A new witness cosigning every checkpoint served; its vkey."""
        key = Ed25519PrivateKey.generate()
        self.cosigners.append((name, key))
        return cosignature.vkey(name, cosignature.public_key_of(key))

    def answer(self, route: str, query: dict) -> tuple[int, object]:
        size = len(self.leaves)
        if route == "/api/v1/log/key":
            import base64

            return 200, {
                "origin": self.origin,
                "public_key": base64.b64encode(self.raw_public_key).decode(),
                "verifier": self.verifier,
            }
        if route == "/api/v1/log/checkpoint":
            return 200, self.checkpoint()
        if route.startswith("/api/v1/attestations/") and int(route.rsplit("/", 1)[1]) in self.entries:
            return 200, self.entries[int(route.rsplit("/", 1)[1])]
        if route == "/api/v1/log/proof/inclusion":
            index, tree_size = query["index"], query["tree_size"]
            if not index < tree_size <= size:
                return 400, {"error": {"code": "bad_request", "message": "out of range"}}
            hashes = path(index, self.leaves[:tree_size])
            return 200, {
                "index": index,
                "tree_size": tree_size,
                "leaf_hash": self.leaves[index].hex(),
                "hashes": [h.hex() for h in hashes],
            }
        if route == "/api/v1/log/proof/consistency":
            first, second = query["first"], query["second"]
            if not first <= second <= size:
                return 400, {"error": {"code": "bad_request", "message": f"second is beyond the log's size {size}"}}
            hashes = subproof(first, self.leaves[:second], True) if 0 < first < second else []
            return 200, {"first": first, "second": second, "hashes": [h.hex() for h in hashes]}
        return 404, {"error": {"code": "not_found", "message": route}}
