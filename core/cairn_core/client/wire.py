"""The JSON the client reads from Cairn and hands back to its callers.

Each body is the contract's shape (§5, §6, §9) as the client reads it: the
fields it names, which the server always sends (it may send more; they pass
through untouched). The client trusts the server for these shapes rather
than checking each field: a malformed answer shows up as a KeyError or
TypeError where it is read, as before any type was written down.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict, final

from cairn_core.dsse import StoredEnvelope


class ErrorBody(TypedDict):
    """§6: the `error` of a refusal; `head` with stale_head."""

    code: str
    message: str
    head: NotRequired[str]


class KeyBody(TypedDict):
    """POST /keys and POST /keys/{keyid}/revoke."""

    keyid: str
    organization: str
    registered_at: str
    revoked_at: str | None


class EntryReceipt(TypedDict):
    """POST /attestations (201 new, 200 the same envelope again)."""

    index: int
    entry_hash: str
    integrated_time: int
    leaf_hash: str


class Receipt(EntryReceipt):
    """`Client.post`'s answer: the receipt with the HTTP status it came with."""

    status: int


@final  # final, so that `"entry" in result` tells the two apart
class Posted(TypedDict):
    """§9: one envelope of a batch, logged (201) or logged before (200)."""

    status: int
    entry: EntryReceipt


@final
class Refused(TypedDict):
    """§9: one envelope of a batch, refused with the contract's error."""

    status: int
    error: ErrorBody


class Organization(TypedDict):
    """GET /organization: the organisation a token belongs to."""

    slug: str
    name: str
    country: str
    roles: list[str]


@final
class Validated(TypedDict):
    """§5 v1.2: one envelope of a validation that a batch would log (nothing was)."""

    status: int
    entry_hash: str


BatchResult = Posted | Refused | Validated


class Entry(TypedDict):
    """GET /attestations/{index}."""

    index: int
    entry_hash: str
    integrated_time: int
    leaf_hash: str
    envelope: StoredEnvelope
    cosigners: list[str]


class EntryPage(TypedDict):
    """GET /attestations (v1.2): entries in index order; `next` resumes."""

    entries: list[Entry]
    next: int | None


class KeyListItem(TypedDict, total=False):
    """An item of GET /keys (v1.2); `organization` for auditors only."""

    keyid: str
    public_key: str
    registered_at: str
    revoked_at: str | None
    organization: str


class KeyList(TypedDict):
    keys: list[KeyListItem]


class BatchSummary(TypedDict):
    """An item of GET /batches (v1.2): GET /batches/{id} without its entries."""

    id: str
    material: str
    unit: str
    quantity: str
    remaining: str
    custodian: str
    head: str


class BatchPage(TypedDict):
    batches: list[BatchSummary]
    next: str | None


class BatchEntry(TypedDict):
    index: int
    entry_hash: str
    type: str


class Batch(BatchSummary):
    """GET /batches/{id}: quantities are decimal strings."""

    entries: list[BatchEntry]


class Node(TypedDict):
    id: str
    material: str
    unit: str
    quantity: str
    custodian: str
    country: str | None


# `from` is a keyword: the functional form.
Edge = TypedDict("Edge", {"from": str, "to": str, "index": int, "quantity": str})


class Origin(TypedDict):
    batch: str
    country: str
    minerals: dict[str, str]  # mineral: kg attributed, a decimal string


class Provenance(TypedDict):
    """GET /batches/{id}/provenance: the upstream DAG."""

    nodes: list[Node]
    edges: list[Edge]
    origins: list[Origin]


class LogKey(TypedDict):
    """GET /log/key."""

    origin: str
    public_key: str
    verifier: str


class InclusionProof(TypedDict):
    """GET /log/proof/inclusion: hex hashes (RFC 9162 §2.1.3)."""

    index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str]


class ConsistencyProof(TypedDict):
    """GET /log/proof/consistency: hex hashes (RFC 9162 §2.1.4)."""

    first: int
    second: int
    hashes: list[str]


class CheckpointSummary(TypedDict):
    origin: str
    tree_size: int
    root_hash: str  # standard base64


class Proven(TypedDict):
    """`Witness.prove` (and `cairn prove --json`): what was proven, against which checkpoints."""

    index: int
    leaf_hash: str
    checkpoint: CheckpointSummary
    previous: CheckpointSummary | None
    consistent_with_previous: bool
    log_key: str
    proof: str  # c2sp.org/tlog-proof@v1 text, with the log-signed note alone
    entry_hash: str | None  # hex, when the entry itself was read and checked
    cosignatures: list[str]  # the witness lines served after the log's own line
    witnessed_by: list[str]  # the vkeys given whose cosignature verified
