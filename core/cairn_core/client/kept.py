"""What `cairn post` signed, kept until the ledger has answered for it.

Posting again after a lost answer must not sign again: a new signature
gives a new `issued_at`, so a new statement, which the ledger would log a
second time or refuse (`batch_exists`). So each statement signed is written
here, under a digest of what decided its envelope (the statement as given,
the issuer filled in, the signing key, whether `prev` was filled), before
it is posted. Posted again, the same statement is sent as the same envelope
and the ledger answers 200 with the first receipt. A refusal forgets it, so
that a corrected or retried statement is signed afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cairn_core.client.statements import Document
from cairn_core.dsse import StoredEnvelope


class KeptEnvelopes:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def digest(statement: Document, *, issuer: str | None, keyid: str, fill_prev: bool) -> str:
        decided = {"statement": statement, "issuer": issuer or "", "keyid": keyid, "fill_prev": fill_prev}
        return hashlib.sha256(json.dumps(decided, sort_keys=True).encode("utf-8")).hexdigest()

    def _path(self, digest: str) -> Path:
        return self.directory / f"{digest}.json"

    def get(self, digest: str) -> StoredEnvelope | None:
        try:
            envelope: StoredEnvelope = json.loads(self._path(digest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return envelope

    def keep(self, digest: str, envelope: StoredEnvelope) -> None:
        """On disk (written whole, then renamed) before the envelope is posted."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(digest)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(envelope), encoding="utf-8")
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def forget(self, digest: str) -> None:
        self._path(digest).unlink(missing_ok=True)
