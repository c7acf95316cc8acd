"""What travels along the write path: a statement on its way into the ledger
(`Pending`, posted by a `Caller`) and what it comes back as (an
`AppendResult` with its `Receipt`, a LedgerError, or `AppendFailed`).

Plain values only, shared by the checks (provenance.append.checks), the write
(provenance.append.write) and the group commit (provenance.append.sequencer and its
socket), none of which need import another for them.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

from cairn_core import dsse
from cairn_core.payload import Statement
from provenance.errors import LedgerError
from provenance.models import Entry, Organization


@dataclass
class Receipt:
    """What an accepted POST /attestations answers (contract §5). A new
    entry's index is given when it is recorded under the tail lock."""

    entry_hash: str
    integrated_time: int
    leaf_hash: str
    index: int | None = None

    def as_body(self) -> dict[str, object]:
        return {
            "index": self.index,
            "entry_hash": self.entry_hash,
            "integrated_time": self.integrated_time,
            "leaf_hash": self.leaf_hash,
        }


@dataclass(frozen=True)
class AppendResult:
    receipt: Receipt
    created: bool

    @property
    def status(self) -> int:
        return 201 if self.created else 200

    def as_body(self) -> dict[str, object]:
        return self.receipt.as_body()

    @functools.cached_property
    def entry(self) -> Entry:
        """The stored entry (a query: the write path itself keeps plain values)."""
        if self.receipt.index is None:
            raise ValueError("a receipt without its index names no stored entry")
        return Entry.objects.get(index=self.receipt.index)


class AppendFailed(RuntimeError):
    """A statement's append failed for a reason of the server's (not a
    refusal): its transaction rolled back, so nothing of it was stored."""


# Each statement's answer: logged (201 or 200), refused, or not written.
Outcome: TypeAlias = AppendResult | LedgerError | AppendFailed


@dataclass(frozen=True)
class Caller:
    """Who posts: their organisation's slug and roles, their user id, and the
    API token they authenticated with (None for in-process callers)."""

    organization: str
    roles: tuple[str, ...]
    user_id: int | None
    token: str | None = None

    @classmethod
    def of(cls, organization: Organization, user: object = None, token: str | None = None) -> Caller:
        return cls(organization.slug, tuple(organization.roles), getattr(user, "pk", None), token)

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)


class CheckedSignature(NamedTuple):
    """A signature checked before the serial section, against `public_key`."""

    keyid: str
    public_key: bytes
    ok: bool


@dataclass(frozen=True)
class Pending:
    """A statement that passed every check needing no ledger state (plain
    values only: it may travel to a sequencer process).

    The work that needs no lock is done before the serial section, by the
    request's thread: the envelope's stored form, and each signature checked
    against its key's public key when the key is known (`verified`). The
    append still looks every key up under the lock, in the contract's order,
    and uses an outcome only for the very public key it finds."""

    envelope: dsse.Envelope
    statement: Statement
    caller: Caller
    now: dt.datetime
    stored: str = ""
    verified: tuple[CheckedSignature, ...] = ()

    @property
    def stored_envelope(self) -> str:
        return self.stored or self.envelope.stored_json()


# Appends statements in order: each one's outcome, in the same order.
Append: TypeAlias = Callable[[list[Pending]], list[Outcome]]
