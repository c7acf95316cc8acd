"""A small transparency log served over HTTP, to show `cairn prove` logs that
Cairn's server would never serve: a log can be swapped for a forked or
rewritten one between two calls. Proofs follow RFC 9162's recursive
definitions (§2.1.3.1 PATH, §2.1.4.1 SUBPROOF), written here independently
of cairn_core.merkle."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cairn_core import signed_note


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
    for `self.leaves`, signed by its own key; assign `leaves` to swap logs."""

    origin = "fake.example/log"

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.checkpoint_size: int | None = None  # serve an older checkpoint than the log's size
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
                status, body = log.answer(url.path, query)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
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

    def checkpoint(self) -> str:
        size = len(self.leaves) if self.checkpoint_size is None else self.checkpoint_size
        return signed_note.sign_checkpoint(self.origin, size, mth(self.leaves[:size]), self.key)

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
