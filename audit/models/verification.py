"""Stored verdicts (§30D's and §45X's): who asked, when, against which checkpoint and rules."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from cairn_core.dsse import StoredEnvelope
from cairn_core.payload import JSONObject
from provenance.models import AppendOnlyQuerySet, ImmutableRecord

# The order of the verdict's keys in contract §5.
VERDICT_KEYS = (
    "id",
    "vin",
    "claim_index",
    "integrity",
    "credit_usd",
    "requirements",
    "agreements",
    "problems",
    "verified_at",
    "requested_by",
    "checkpoint",
    "report",
)
# v1.2 additions: absent from verdicts stored before them.
VERDICT_V12 = ("verified_at", "requested_by")
# v1.1 additions (cairn_core.regimes.s30d.verdict): absent from verdicts stored before them.
VERDICT_ADDITIONS = ("scope", "applied")


class VerificationQuerySet(AppendOnlyQuerySet[Any]):
    def seal(self, pk: int, report: StoredEnvelope) -> int:
        """Set the signed report of a row that has none (its one permitted write)."""
        return models.QuerySet.update(self.filter(pk=pk, report__isnull=True), report=report)


class SignedVerdict(models.Model):
    """A verdict of any regime, stored with its DSSE report signed by the ledger key.

    Written once and never changed, with one exception: the report signs the
    verdict *including this row's id*, so the row is inserted first and
    sealed with its report in the same transaction (`seal`). Precomputing
    the id would need a sequence that SQLite lacks; an insert-then-seal in
    one transaction is never seen half-done. After that the model and its
    queryset refuse every update and delete.
    """

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Blank when run from the command line.",
    )
    organization = models.ForeignKey(
        "provenance.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The organisation that asked.",
    )
    requested_at = models.DateTimeField()
    checkpoint_size = models.BigIntegerField()
    checkpoint = models.TextField(help_text="The signed checkpoint note the verdict rests on.")
    rules_version = models.CharField(max_length=200)
    # The verdict without id and report, as computed.
    verdict = models.JSONField()
    integrity = models.CharField(max_length=8)
    report = models.JSONField(null=True, blank=True)

    objects = VerificationQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-requested_at", "-id"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecord(f"{type(self).__name__} rows cannot be updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableRecord(f"{type(self).__name__} rows cannot be deleted")


class Verification(SignedVerdict):
    """One verification of a claim (contract §5), signed and sealed as `SignedVerdict` says."""

    claim = models.ForeignKey("provenance.Claim", on_delete=models.PROTECT, related_name="verifications")
    claim_index = models.BigIntegerField()
    credit_usd = models.CharField(max_length=8)

    class Meta(SignedVerdict.Meta):
        pass

    def __str__(self) -> str:
        return f"verification {self.pk} of {self.claim_id}"

    def as_verdict(self) -> JSONObject:
        """The contract's verdict body (§5), keys in the contract's order."""
        body = {"id": self.pk, **self.verdict, "report": self.report}
        keys = (
            *(key for key in VERDICT_KEYS[:-1] if key in body or key not in VERDICT_V12),
            *(key for key in VERDICT_ADDITIONS if key in body),
            "report",
        )
        return {key: body[key] for key in keys}


class MacrVerification(SignedVerdict):
    """One §45X verdict of a component batch for a taxable year (docs/contract-45x.md §4),
    signed and sealed as `SignedVerdict` says, and logged as a `macr_verdict` entry."""

    batch = models.ForeignKey("provenance.Batch", on_delete=models.PROTECT, related_name="macr_verifications")
    taxable_year = models.PositiveSmallIntegerField()
    sold_year = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The year sold asked (as if sold that year); blank: the sales' own."
    )
    outcome = models.CharField(max_length=16)

    class Meta(SignedVerdict.Meta):
        verbose_name = "§45X verification"

    def __str__(self) -> str:
        return f"§45X verification {self.pk} of {self.batch_id} for {self.taxable_year}"

    def as_verdict(self) -> JSONObject:
        """The verdict document of docs/contract-45x.md §4: id first, the report last."""
        return {"id": self.pk, **self.verdict, "report": self.report}
