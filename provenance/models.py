"""The ledger's tables.

Two kinds of table live here:

* **Ledger tables** (Entry, EntrySignature, BatchLink, Claim, MerkleNode,
  Checkpoint): append-only. Model and queryset guards raise on update and
  delete, and on PostgreSQL a trigger (migration 0002) rejects UPDATE and
  DELETE whatever the client.
* **State tables** (Organization, Member, SigningKey, Batch, LogState): the
  current state that the ledger implies (a batch's head, custodian and
  consumed quantity; the log's size and right edge). They are updated only
  by the write path in provenance.append.checks, under row locks, and
  `verify_ledger` rebuilds them from the entries to prove they agree.
* **Derived links** (EntryAgreementLink): which agreements made an entry's
  site country count, recomputed by `provenance.linking.relink` when the
  agreements change.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar, NoReturn, TypeVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_countries.fields import CountryField

from cairn_core import amounts
from cairn_core.entries import leaf_input_text

_Row = TypeVar("_Row", bound=models.Model)


class AmountField(models.Field):  # type: ignore[type-arg]  # (not subscriptable at run time)
    """A decimal amount of the grammar (contract §3), stored digit for digit.

    Whatever the grammar admits (21 integer digits, 9 decimals) must come
    back exactly as signed, or `verify_ledger` would report an honest entry
    as tampered. PostgreSQL's `numeric` without precision keeps every digit
    and the scale; SQLite has no exact decimal type (a `decimal` column keeps
    15 significant digits), so there the amount is its grammar string."""

    description = "an exact decimal amount"

    def db_type(self, connection: Any) -> str:
        return "numeric" if connection.vendor == "postgresql" else "text"

    def get_internal_type(self) -> str:
        return "AmountField"  # no backend converter: from_db_value reads it

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        return self.to_python(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        amount = self.to_python(value)
        if amount is None or connection.vendor == "postgresql":
            return amount
        return amounts.text(amount)


class Role(models.TextChoices):
    SUPPLIER = "supplier"
    MANUFACTURER = "manufacturer"
    CERTIFIER = "certifier"
    AUDITOR = "auditor"


class ImmutableRecord(Exception):
    """Raised when code tries to change or delete a ledger record."""


class AppendOnlyQuerySet(models.QuerySet[_Row]):
    """Ledger rows are written once: no bulk update or delete."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise ImmutableRecord(f"{self.model.__name__} rows cannot be updated")

    def delete(self) -> NoReturn:
        raise ImmutableRecord(f"{self.model.__name__} rows cannot be deleted")

    def _raw_delete(self, using: str | None) -> NoReturn:
        # The deletion collector's fast path calls this with `using`.
        self.delete()


class AppendOnlyModel(models.Model):
    """Base for ledger tables: insert once, never update, never delete."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecord(f"{type(self).__name__} rows cannot be updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableRecord(f"{type(self).__name__} rows cannot be deleted")


# --- Identities -----------------------------------------------------------


class Organization(models.Model):
    slug = models.CharField(primary_key=True, max_length=63)
    name = models.CharField(max_length=200)
    country = CountryField()
    roles = models.JSONField(default=list, help_text="Subset of supplier, manufacturer, certifier, auditor.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)


class Member(models.Model):
    """Ties a Django user (and so its API token) to one organisation."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="members")

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization_id}"


class SigningKeyQuerySet(models.QuerySet["SigningKey"]):
    def valid_at(self, moment: dt.datetime) -> SigningKeyQuerySet:
        return self.filter(registered_at__lte=moment).exclude(revoked_at__lte=moment)


class SigningKey(models.Model):
    """An organisation's Ed25519 public key. Revocation is a date, never a deletion."""

    keyid = models.CharField(primary_key=True, max_length=64)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="keys")
    public_key = models.BinaryField(max_length=32)
    registered_at = models.DateTimeField()
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = SigningKeyQuerySet.as_manager()

    class Meta:
        ordering = ["registered_at"]

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.keyid[:12]}"


# --- The ledger -----------------------------------------------------------


class EntryType(models.TextChoices):
    ORIGIN = "origin"
    TRANSFORM = "transform"
    TRANSFER = "transfer"
    CERTIFY = "certify"
    CLAIM = "claim"
    # The §45X addition (docs/contract-45x.md).
    SUPPLIER_CERTIFICATION = "supplier_certification"
    SALE = "sale"
    # Contract §12: keys, organisations, rule data and verdicts, signed by the
    # ledger itself (the kind is the statement's "type"; no issuer).
    LEDGER = "ledger"


class EntryQuerySet(AppendOnlyQuerySet["Entry"]):
    def touching(self, batch_id: str) -> EntryQuerySet:
        return self.filter(batch_links__batch_id=batch_id)


class Entry(AppendOnlyModel):
    """One accepted attestation, at its position in the transparency log."""

    index = models.BigIntegerField(primary_key=True)
    entry_hash = models.CharField(max_length=64, unique=True)
    # The stored envelope as JSON with sorted keys and no spaces, so that the
    # leaf input is '{"envelope":' + envelope + ',"integrated_time":' + t + '}'.
    envelope = models.TextField()
    integrated_time = models.BigIntegerField()
    leaf_hash = models.CharField(max_length=64)
    type = models.CharField(max_length=24, choices=EntryType.choices)
    issuer = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="issued_entries",
        help_text="The attestation's issuer; none for a ledger entry (contract §12).",
    )
    issued_at = models.DateTimeField()
    occurred_at = models.DateTimeField()
    # The parsed payload, kept for queries; the signed bytes are in envelope.
    statement = models.JSONField()
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects: ClassVar = EntryQuerySet.as_manager()

    class Meta:
        ordering = ["index"]
        verbose_name_plural = "entries"
        # Ledger entries (contract §12) are few among many attestations: a
        # partial index finds them without reading the others.
        indexes = [models.Index(fields=["index"], condition=Q(type="ledger"), name="entry_ledger_idx")]

    def __str__(self) -> str:
        return f"#{self.index} {self.type} by {self.issuer_id}"

    @property
    def leaf_input(self) -> str:
        """The log leaf's input (contract §4)."""
        return leaf_input_text(self.envelope, self.integrated_time)

    @property
    def integrated_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.integrated_time, tz=dt.UTC)


class EntrySignature(AppendOnlyModel):
    """A signature on an entry that verified against a registered key."""

    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="signature_records")
    key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    is_issuer = models.BooleanField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entry", "key"], name="entry_signature_once")]

    def __str__(self) -> str:
        return f"#{self.entry_id} signed by {self.organization_id}"


class Batch(models.Model):
    """A physical batch and its current state (head, custodian, consumption)."""

    id = models.CharField(primary_key=True, max_length=128)
    owner = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    material = models.CharField(max_length=200)
    unit = models.CharField(max_length=8)
    quantity = AmountField()
    consumed = AmountField(default=Decimal(0))
    custodian = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="custody")
    head = models.CharField(max_length=64)
    created_by = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="created_batches")
    site_country = CountryField()
    # kg of each critical mineral, on origin batches only (as signed)
    minerals = models.JSONField(default=dict, blank=True)
    # names of the critical minerals whose lineages run through this batch
    carries = models.JSONField(default=list, blank=True)
    value_added_usd = AmountField()
    component = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return self.id

    @property
    def remaining(self) -> Decimal:
        return amounts.difference(self.quantity, self.consumed)


class LinkRole(models.TextChoices):
    CREATED = "created"
    CONSUMED = "consumed"
    TRANSFERRED = "transferred"
    CERTIFIED = "certified"
    CLAIMED = "claimed"
    # The §45X addition: a supplier's certification moves the head (as a
    # certifier's does, but it is another statement); a sale consumes.
    SUPPLIER_CERTIFIED = "supplier_certified"
    SOLD = "sold"


class BatchLink(AppendOnlyModel):
    """Entry E touched batch B: the chain link (prev), custody and consumption."""

    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="batch_links")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="links", db_constraint=False)
    role = models.CharField(max_length=24, choices=LinkRole.choices)
    prev = models.CharField(max_length=64, blank=True)
    quantity = AmountField(null=True, blank=True)
    custodian_before = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    custodian_after = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["entry_id", "id"]
        constraints = [models.UniqueConstraint(fields=["entry", "batch"], name="batch_link_once")]
        indexes = [models.Index(fields=["batch", "entry"])]

    def __str__(self) -> str:
        return f"#{self.entry_id} {self.role} {self.batch_id}"


class Claim(AppendOnlyModel):
    """A clean vehicle credit claim: one per VIN, enforced by the primary key."""

    vin = models.CharField(primary_key=True, max_length=32)
    entry = models.OneToOneField(Entry, on_delete=models.PROTECT, related_name="claim")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="claims", db_constraint=False)
    manufacturer = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="claims")
    acquired = models.DateField()
    placed_in_service = models.DateField()
    final_assembly_country = CountryField()

    class Meta:
        ordering = ["entry_id"]

    def __str__(self) -> str:
        return self.vin


# --- The transparency log -------------------------------------------------


class LogState(models.Model):
    """The log's tail: one row, locked by every append to give out indexes.

    `size` is the number of entries; `frontier` the hex roots of the perfect
    subtrees that make up the current tree, largest first.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    frontier = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"log of {self.size} entries"

    @classmethod
    def load(cls) -> LogState:
        state, _ = cls.objects.get_or_create(id=1)
        return state


class MerkleNode(AppendOnlyModel):
    """A completed perfect subtree: level >= 1, covering leaves
    [index * 2**level, (index + 1) * 2**level). Leaves are Entry.leaf_hash.
    `id` packs (level, index) so that a proof's nodes come in one query."""

    id = models.BigIntegerField(primary_key=True)
    hash = models.CharField(max_length=64)

    LEVEL_SHIFT = 48

    def __str__(self) -> str:
        return f"node level {self.level} index {self.position}"

    @classmethod
    def node_id(cls, level: int, index: int) -> int:
        return (level << cls.LEVEL_SHIFT) | index

    @property
    def level(self) -> int:
        return self.id >> self.LEVEL_SHIFT

    @property
    def position(self) -> int:
        return self.id & ((1 << self.LEVEL_SHIFT) - 1)


class Checkpoint(AppendOnlyModel):
    """A signed C2SP tlog-checkpoint note, kept with its whole history."""

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.CharField(max_length=64)
    note = models.TextField()
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["tree_size"]
        get_latest_by = "tree_size"

    def __str__(self) -> str:
        return f"checkpoint @ {self.tree_size}"


class Cosignature(AppendOnlyModel):
    """A witness's C2SP tlog-cosignature line over a checkpoint (contract §4, §10).

    Kept only after the line verified under the configured witness key over
    the checkpoint's body; a witness cosigns a checkpoint once.
    """

    checkpoint = models.ForeignKey(
        Checkpoint, to_field="tree_size", on_delete=models.PROTECT, related_name="cosignatures"
    )
    witness = models.CharField(max_length=400, help_text="The witness's vkey.")
    line = models.TextField(help_text="The cosignature line, as the witness sent it.")
    timestamp = models.BigIntegerField(help_text="When the witness cosigned (POSIX seconds, signed).")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["checkpoint", "id"]
        constraints = [models.UniqueConstraint(fields=["checkpoint", "witness"], name="one_cosignature_per_witness")]

    def __str__(self) -> str:
        return f"cosignature of checkpoint @ {self.checkpoint_id} by {self.witness.split('+')[0]}"


class EntryAgreementLink(models.Model):
    """Agreement A made entry E's site country count for mineral M on E's date.

    Derived data: rows are deleted and recreated by `relink` when the rules
    change (a rule change relinks only the entries of the countries it can
    move). `rules_version` names the rule data they were last computed from.
    """

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="agreement_links")
    agreement = models.ForeignKey("agreements.TradeAgreement", on_delete=models.PROTECT, related_name="entry_links")
    mineral = models.CharField(max_length=40)
    country = CountryField()
    linked_at = models.DateTimeField(default=timezone.now)
    rules_version = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["entry_id", "agreement_id", "mineral"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "agreement", "mineral"], name="entry_agreement_mineral_once")
        ]
        indexes = [models.Index(fields=["agreement", "entry"], name="entry_links_by_agreement")]

    def __str__(self) -> str:
        return f"#{self.entry_id} {self.mineral} via {self.agreement_id}"


class EpcisEvent(models.Model):
    """Entry E's EPCIS 2.0 event (contract §11), with its eventID, as the JSON
    text an export splices in (provenance.epcis).

    Derived data, computed once after the append (a Celery task) or by the
    first export that finds it missing: an entry's event is a function of its
    signed statement, its integrated time, the units of the batches it names
    (fixed when they were made, before it) and `derivation` (the mapping's
    version and the ledger's `cairn` namespace); a row of another derivation
    is derived again. A changed row is served as it is and caught where it
    matters: the examiner's link back (cairn-epcis-check) rebuilds every
    event from its signed statement."""

    entry = models.OneToOneField(Entry, primary_key=True, on_delete=models.CASCADE, related_name="epcis_event")
    derivation = models.CharField(max_length=64)
    event = models.TextField()

    class Meta:
        ordering = ["entry_id"]

    def __str__(self) -> str:
        return f"#{self.entry_id} as EPCIS"
