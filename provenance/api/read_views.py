"""A caller's own data, page by page (contract §5, v1.2): GET /attestations,
GET /batches, GET /keys.

Pages are in the order of the key they resume from (`after`): an entry's
index, a batch's id. `next` is the `after` of the following page, or null
when this page is the last. Each item has the shape of the single read
(GET /attestations/{index}, GET /batches/{id} without its entries), with
the same permissions: what a caller may not read is simply not listed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from cairn_core import dsse
from cairn_core.dag import decimal_str
from cairn_core.payload import BATCH_ID, SLUG
from provenance import selectors
from provenance.errors import LedgerError
from provenance.linking import links_for_entries
from provenance.models import Batch, Entry, EntrySignature, Organization, SigningKey

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


def limit_of(params: Any) -> int:
    text = params.get("limit", str(DEFAULT_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise LedgerError("bad_request", f"limit must be an integer from 1 to {MAX_LIMIT}.")
    return int(text)


def after_index(params: Any) -> int:
    text = params.get("after", "-1")
    if not (text == "-1" or (text.isdigit() and len(text) <= 18)):
        raise LedgerError("bad_request", "after must be an entry index, or -1 for the first page.")
    return int(text)


def page(items: Sequence[Any], limit: int, key: str) -> tuple[list[Any], Any]:
    """The first `limit` of `items` (fetched one beyond) and the page's `next`."""
    shown = list(items[:limit])
    return shown, (getattr(shown[-1], key) if len(items) > limit else None)


def entry_bodies(entries: list[Entry]) -> list[dict[str, Any]]:
    """GET /attestations/{index}'s body for each entry, in three queries."""
    indexes = [entry.index for entry in entries]
    cosigners: dict[int, set[str]] = defaultdict(set)
    rows = EntrySignature.objects.filter(entry_id__in=indexes, is_issuer=False)
    for index, org in rows.values_list("entry_id", "organization_id"):
        cosigners[index].add(org)
    agreements = links_for_entries(indexes)
    return [entry_body(entry, sorted(cosigners[entry.index]), agreements[entry.index]) for entry in entries]


def entry_body(entry: Entry, cosigners: list[str], agreements: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "index": entry.index,
        "entry_hash": entry.entry_hash,
        "integrated_time": entry.integrated_time,
        "leaf_hash": entry.leaf_hash,
        "envelope": json.loads(entry.envelope),
        "cosigners": cosigners,
        "agreements": agreements,
    }


def list_attestations(org: Organization, params: Any) -> dict[str, Any]:
    limit, after = limit_of(params), after_index(params)
    found = selectors.readable_entries(org).filter(index__gt=after).order_by("index")[: limit + 1]
    entries, following = page(list(found), limit, "index")
    return {"entries": entry_bodies(entries), "next": following}


def batch_body(batch: Batch) -> dict[str, Any]:
    """GET /batches/{id}'s body without its entries."""
    return {
        "id": batch.id,
        "material": batch.material,
        "unit": batch.unit,
        "quantity": decimal_str(batch.quantity),
        "remaining": decimal_str(batch.remaining),
        "custodian": batch.custodian_id,
        "head": batch.head,
    }


def list_batches(org: Organization, params: Any) -> dict[str, Any]:
    """Auditors: any custodian's, or all; anyone else: its own custody only
    (the default when `custodian` is left out)."""
    limit, after = limit_of(params), params.get("after", "")
    if after and not BATCH_ID.match(after):
        raise LedgerError("bad_request", "after must be a batch id <org slug>:<local id>, from an earlier page's next.")
    custodian = params.get("custodian") or (None if org.has_role("auditor") else org.slug)
    if custodian is not None and not SLUG.match(custodian):
        raise LedgerError("bad_request", "custodian must be an organisation's slug.")
    if custodian != org.slug and not org.has_role("auditor"):
        raise LedgerError("forbidden", "You may list only the batches in your own custody (custodian=<your slug>).")
    found = Batch.objects.filter(id__gt=after).order_by("id")
    if custodian is not None:
        found = found.filter(custodian_id=custodian)
    batches, following = page(list(found[: limit + 1]), limit, "id")
    return {"batches": [batch_body(batch) for batch in batches], "next": following}


def key_body(key: SigningKey, *, with_organization: bool) -> dict[str, Any]:
    body = {
        "keyid": key.keyid,
        "public_key": dsse.b64encode(bytes(key.public_key)),
        "registered_at": key.registered_at,
        "revoked_at": key.revoked_at,
    }
    return {**body, "organization": key.organization_id} if with_organization else body


def list_keys(org: Organization) -> dict[str, list[dict[str, Any]]]:
    """The caller's own keys; an auditor's, every organisation's."""
    auditor = org.has_role("auditor")
    keys = SigningKey.objects.order_by("organization_id", "registered_at", "keyid")
    if not auditor:
        keys = keys.filter(organization=org)
    return {"keys": [key_body(key, with_organization=auditor) for key in keys]}
