"""Registering and revoking organisations' Ed25519 signing keys.

A key is valid from its registration until its revocation; revocation is a
date and never removes the key, so entries signed before it still verify.
Each is appended to the log first, as a ledger entry (contract §12), in the
transaction that writes the row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from nacl.bindings import crypto_core_ed25519_is_valid_point

from cairn_core import dsse
from cairn_core.entries import Key
from provenance import ledger_entries
from provenance.errors import LedgerError
from provenance.models import Organization, SigningKey

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def register_key(
    *, organization: Organization, public_key_b64: object, acting_user: User | None = None
) -> tuple[SigningKey, bool]:
    """Register a raw 32-byte Ed25519 public key; returns (key, created)."""
    try:
        raw = dsse.b64decode(public_key_b64)
    except dsse.EnvelopeError as exc:
        raise LedgerError("invalid_payload", f"public_key must be base64: {exc}.") from exc
    if len(raw) != 32:
        raise LedgerError("invalid_payload", f"public_key must be 32 bytes (raw Ed25519), not {len(raw)}.")
    if not crypto_core_ed25519_is_valid_point(raw):
        # All-zero, small-order, mixed-order and non-canonical encodings: no
        # private key has them as its public key, and some verify forged signatures.
        raise LedgerError(
            "invalid_payload", "public_key is not a valid Ed25519 public key (a canonical point of prime order)."
        )
    keyid = dsse.keyid_for(raw)
    with transaction.atomic():
        key = SigningKey.objects.select_for_update().filter(keyid=keyid).first()
        created = key is None
        if key is None:
            # The log first (contract §12): the row is a view of its entry.
            now = timezone.now().replace(microsecond=0)  # valid from its whole second (see _revoked_at)
            ledger_entries.append("key_registered", ledger_entries.key_fields(organization.slug, keyid, raw), at=now)
            key = SigningKey.objects.create(
                keyid=keyid, organization=organization, public_key=raw, registered_at=now, registered_by=acting_user
            )
    if key.organization_id != organization.slug:
        raise LedgerError("forbidden", "This public key is registered to another organisation.")
    if key.revoked_at is not None:
        raise LedgerError("key_not_valid", f"Key {keyid} was revoked; revocation is final. Generate a new key.")
    return key, created


def revoke_key(*, organization: Organization, keyid: str, acting_user: User | None = None) -> SigningKey:
    """Revoke one of the organisation's keys from now on (idempotent)."""
    with transaction.atomic():
        key = SigningKey.objects.select_for_update().filter(keyid=keyid, organization=organization).first()
        if key is None:
            raise LedgerError("not_found", f"Your organisation has no key {keyid}.")
        if key.revoked_at is None:
            key.revoked_at = _revoked_at(timezone.now())
            fields = {"organization": organization.slug, "keyid": keyid}
            ledger_entries.append("key_revoked", fields, at=key.revoked_at)
            key.revoked_by = acting_user
            key.save(update_fields=["revoked_at", "revoked_by"])
    return key


def _revoked_at(now: dt.datetime) -> dt.datetime:
    """When a revocation made at `now` takes effect for the log: the next
    whole second (`now` itself when it is one).

    Entries carry their integrated time in whole seconds, so every verifier
    judges a key at whole seconds: valid for an entry integrated in second t
    when registered_at <= t < revoked_at. The write path refuses a revoked
    key from the moment its revocation commits (both take the log's tail
    lock), so every entry of the revocation's own second came before it and
    keeps counting as valid; with revoked_at at the next whole second, times
    and log order say the same. (registered_at is its whole second, rounded
    down: a key's entries all come after its registration.)"""
    whole = now.replace(microsecond=0)
    return whole if whole == now else whole + dt.timedelta(seconds=1)


def verifying_keys(keyids: Iterable[str]) -> dict[str, Key]:
    """The registered keys of `keyids` as the entry checks use them, in one
    query (keyids no key has are absent)."""
    rows = SigningKey.objects.filter(keyid__in=set(keyids)).values_list(
        "keyid", "public_key", "organization_id", "registered_at", "revoked_at"
    )
    return {keyid: Key.of(public, org, registered, revoked) for keyid, public, org, registered, revoked in rows}
