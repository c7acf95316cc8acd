"""Cairn's Python SDK, from a key to entries in the log (docs/suppliers.md).

Needs the core with its client extra (`pip install './core[client]'` from
Cairn's source) and a supplier organisation's token:

    CAIRN_URL=http://127.0.0.1:8000 CAIRN_TOKEN=… CAIRN_ISSUER=greenbushes-lithium \\
    CAIRN_KEY=greenbushes.pem CAIRN_RECEIVER=kansai-refining python examples/sdk_quickstart.py

It makes the key (or loads it) and registers it, posts an origin, then in one
batch a second origin and its transfer to CAIRN_RECEIVER (the transfer's
`prev` is the head the origin before it in the batch leaves: `chain=True`),
and lists what the organisation has in the ledger.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from cairn_core.client import CairnError, Client, keys


def origin(issuer: str, batch: str) -> dict:
    return {
        "type": "origin",
        "issuer": issuer,
        "activity": "extraction",
        "site": {"name": "Greenbushes", "country": "AU"},
        "outputs": [
            {
                "batch": f"{issuer}:{batch}",
                "material": "spodumene concentrate",
                "quantity": "20000",
                "unit": "kg",
                "minerals": {"lithium": "1200"},
                "value_added_usd": "18500",
            }
        ],
    }


def main() -> None:
    url, token, issuer = os.environ["CAIRN_URL"], os.environ["CAIRN_TOKEN"], os.environ["CAIRN_ISSUER"]
    receiver, path = os.environ["CAIRN_RECEIVER"], Path(os.environ.get("CAIRN_KEY", f"{issuer}.pem"))
    key = keys.load(path) if path.exists() else keys.generate()
    if not path.exists():
        keys.write(path, key)
    lot = time.strftime("%Y%m%d-%H%M%S")
    with Client(url, token) as cairn:
        cairn.register_key(key)  # once; registering the same key again answers it
        receipt = cairn.post(origin(issuer, f"ore-{lot}-1"), key=key)
        print(f"origin logged at index {receipt['index']} ({receipt['status']})")
        second = origin(issuer, f"ore-{lot}-2")
        transfer = {"type": "transfer", "issuer": issuer, "batch": f"{issuer}:ore-{lot}-2", "to": receiver}
        for result in cairn.post_batch([second, transfer], key=key, chain=True):
            if "error" in result:
                raise CairnError.from_body(result["status"], result)
            print(f"batch item logged at index {result['entry']['index']} ({result['status']})")
        for entry in cairn.all_entries(after=receipt["index"] - 1):
            print(f"#{entry['index']} {entry['entry_hash']}")
        for batch in cairn.all_batches():
            print(f"{batch['id']}: {batch['remaining']} {batch['unit']} with {batch['custodian']}")


if __name__ == "__main__":
    main()
