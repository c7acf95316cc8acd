"""What the integrity checks found, and how far they got."""

from __future__ import annotations

from django.db import models


class IntegrityIncident(models.Model):
    """One integrity failure, recorded once however often it is detected.

    `fingerprint` is the hash of (index, code, message): a check that runs
    every five minutes finds the same broken entry each time, and the
    unique constraint keeps it to one row and one mail.
    """

    fingerprint = models.CharField(max_length=64, unique=True)
    index = models.BigIntegerField(null=True, blank=True, db_index=True)
    code = models.CharField(max_length=32)
    message = models.TextField()
    detected_at = models.DateTimeField()
    detected_by = models.CharField(max_length=64, help_text="The task or command that found it.")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "index"]

    def __str__(self) -> str:
        return f"index {self.index}: {self.message}"


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

    class Meta:
        ordering = ["start"]

    def __str__(self) -> str:
        return f"seal [{self.start}, {self.end})"
