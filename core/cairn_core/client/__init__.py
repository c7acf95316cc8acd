"""Cairn's client: the `cairn` command and a small Python SDK for suppliers.

Needs the `client` extra (`pip install './core[client]'` from Cairn's source:
click and httpx); the rest of cairn_core never imports this package.

    from cairn_core.client import Client, keys

    key = keys.load("supplier.pem")                # or keys.generate() and keys.write(path, key)
    with Client("https://cairn.example", token) as cairn:
        cairn.register_key(key)                    # once
        receipt = cairn.post(statement, key=key)   # fills issued_at, signs, posts: {"status", "index", ...}
        receipt = cairn.post(statement, key=key, fill_prev=True)   # prev from the batches' current heads
        results = cairn.post_batch([s1, s2, s3], key=key)          # contract §9, one result each
        cairn.batch("acme:lot-1"), cairn.provenance("acme:lot-1"), cairn.entry(42)
        proof = cairn.prove(42, Witness("witness.json"))           # inclusion + consistency with the last call

* `Client(url, token)`: every endpoint; a refusal raises CairnError with
  `status`, `code`, `message` (and `head` for stale_head).
* `keys`: Ed25519 keys as PKCS#8 PEM files of mode 0600; keyids.
* `statements`: fill, sign and hash statements locally.
* `Witness`: `cairn prove`'s light witness (witness.py).
* `Importer`: `cairn import`'s resumable bulk load (importer.py).
* `wire`: the JSON bodies the client reads and returns, as TypedDicts (wire.py).
"""

from cairn_core import CLIENT_EXTRA_MISSING

try:
    import click  # noqa: F401
    import httpx  # noqa: F401
except ImportError as exc:  # the bare core: say what to install
    raise ImportError(f"cairn_core.client {CLIENT_EXTRA_MISSING} ({exc})") from exc

from cairn_core.client import keys, statements, wire  # noqa: E402
from cairn_core.client.api import CairnError, Client  # noqa: E402
from cairn_core.client.importer import Importer  # noqa: E402
from cairn_core.client.witness import ForkDetected, Witness, WitnessError  # noqa: E402

__all__ = ["CairnError", "Client", "ForkDetected", "Importer", "Witness", "WitnessError", "keys", "statements", "wire"]
