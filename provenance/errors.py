"""The contract's error codes (§6) as one exception type.

Domain code raises LedgerError; one API handler turns it into
{"error": {"code", "message", ...}} with the code's HTTP status.
"""

from __future__ import annotations

from collections.abc import Callable

STATUS_BY_CODE = {
    "malformed_envelope": 400,
    "unsupported_payload_type": 400,
    "invalid_payload": 400,
    "bad_signature": 400,
    "unknown_key": 400,
    "clock_skew": 400,
    "bad_request": 400,
    "not_authenticated": 401,
    "key_not_valid": 403,
    "issuer_mismatch": 403,
    "not_custodian": 403,
    "role_not_allowed": 403,
    "forbidden": 403,
    "unknown_batch": 404,
    "not_found": 404,
    "stale_head": 409,
    "batch_exists": 409,
    "vin_claimed": 409,
    "duplicate_statement": 409,
    "payload_too_large": 413,
    "overdraw": 422,
    "rate_limited": 429,
    # Outside the contract's table (docs/decisions.md):
    "unavailable": 503,  # nothing of the request was stored; retry
    "outcome_unknown": 503,  # an append not confirmed in time; re-post the same envelope
}


class LedgerError(Exception):
    """A request the ledger refuses, with the contract's code."""

    def __init__(self, code: str, message: str, **extra: object) -> None:
        if code not in STATUS_BY_CODE:
            raise ValueError(f"unknown error code {code}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    @property
    def status(self) -> int:
        return STATUS_BY_CODE[self.code]

    def as_body(self) -> dict[str, dict[str, object]]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}

    def __reduce__(
        self,
    ) -> tuple[Callable[[str, str, dict[str, object]], LedgerError], tuple[str, str, dict[str, object]]]:
        # Copied and pickled as its code, message and extra (its constructor
        # takes the code first).
        return _rebuild, (self.code, self.message, self.extra)


def _rebuild(code: str, message: str, extra: dict[str, object]) -> LedgerError:
    return LedgerError(code, message, **extra)
