"""A failed check, as every verifier in Cairn names it.

`Problem(index, code, message)` is one failed check of one entry: the
ledger check (`verify_ledger`), the Celery integrity checks, claim
verification and the offline bundle verifier all report in this shape,
and a verdict lists them as contract §5's `{"code", "message", "index"}`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict


class ProblemDict(TypedDict):
    """Contract §5's shape of a problem."""

    code: str
    message: str
    index: int


@dataclass(frozen=True, order=True)
class Problem:
    index: int
    code: str
    message: str

    @property
    def line(self) -> str:
        """Contract §7's report line: `index N: <reason>`."""
        return f"index {self.index}: {self.message}"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.index}\n{self.code}\n{self.message}".encode()).hexdigest()

    def as_dict(self) -> ProblemDict:
        """The contract's shape: {"code", "message", "index"}."""
        return {"code": self.code, "message": self.message, "index": self.index}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Problem:
        """A problem read back from its contract shape (a Celery result, a stored verdict)."""
        return cls(data["index"], data["code"], data["message"])
