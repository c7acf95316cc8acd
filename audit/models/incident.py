"""What the integrity checks found, and how far they got."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IntegrityIncident(models.Model):
    """One integrity failure, recorded once however often it is detected.

    `fingerprint` is the hash of (index, code, message): a check that runs
    every five minutes finds the same broken entry each time, and the
    unique constraint keeps it to one row and one mail.
    """

    class State(models.TextChoices):
        OPEN = "open"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    fingerprint = models.CharField(max_length=64, unique=True)
    index = models.BigIntegerField(null=True, blank=True, db_index=True)
    code = models.CharField(max_length=32)
    message = models.TextField()
    detected_at = models.DateTimeField()
    detected_by = models.CharField(max_length=64, help_text="The task or command that found it.")
    # The row suspected of having been changed ("entry #120", "batch b-7"),
    # and what rests on it (audit.consequences), as found when recorded.
    suspect = models.CharField(max_length=200, blank=True)
    consequences = models.JSONField(default=dict, blank=True)
    # Every failed check the suspect explains, as contract §5's {"code", "message", "index"}.
    problems = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledge_comment = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolve_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-detected_at", "index"]
        permissions = [("respond_to_incident", "Can acknowledge and resolve integrity incidents")]

    def __str__(self) -> str:
        return f"Incident {self.pk}: {self.suspect or self.code}"

    def as_api(self) -> dict[str, object]:
        """Contract §5's shape (GET /incidents)."""
        rests = self.consequences or {}
        return {
            "id": self.id,
            "detected_at": self.detected_at.isoformat().replace("+00:00", "Z"),
            "state": self.state,
            "code": self.code,
            "message": self.message,
            "index": self.suspect_index,
            "consequences": {"claims": rests.get("claims", []), "verifications": rests.get("verifications", [])},
        }

    @property
    def suspect_index(self) -> int | None:
        """The suspect entry's index (contract §5), None when the suspect is another row."""
        return self.index if self.suspect == f"entry #{self.index}" else None


class IntegrityCheckRun(models.Model):
    """One run of an integrity check over entries [start, end)."""

    class Kind(models.TextChoices):
        INCREMENTAL = "incremental"
        FULL = "full"
        COMMAND = "command"
        SWEEP = "sweep"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    start = models.BigIntegerField()
    end = models.BigIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    problem_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} check [{self.start}, {self.end})"


class IntegrityCheckPart(models.Model):
    """One range [start, end) of a full check, checked by one task.

    The parts of a run show its progress while it goes, and when each part
    of the ledger was last fully checked.
    """

    run = models.ForeignKey(IntegrityCheckRun, on_delete=models.CASCADE, related_name="parts")
    start = models.BigIntegerField()
    end = models.BigIntegerField()
    finished_at = models.DateTimeField(null=True, blank=True)
    problem_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "start"]

    def __str__(self) -> str:
        return f"part [{self.start}, {self.end}) of {self.run}"


class RangeSeal(models.Model):
    """What entries [start, end) and the rows derived from them looked like
    when a full check of the range last passed: an HMAC (audit.sweep) over
    every stored column, so that the periodic sweep finds any later change
    by hashing the rows again, without checking a signature."""

    start = models.BigIntegerField(primary_key=True)
    end = models.BigIntegerField()
    digest = models.CharField(max_length=64)
    checked_at = models.DateTimeField(help_text="When a full check of the range (signatures included) last passed.")
    moving = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="An HMAC of the moving columns (consumed, custodian, head) of the batches the range created, "
        "when they last agreed with their links; blank until first compared.",
    )

    class Meta:
        ordering = ["start"]

    def __str__(self) -> str:
        return f"seal [{self.start}, {self.end})"
