"""What each admin user did with the verdicts: the auditor's activity log.

Append-only (provenance.models.AppendOnlyModel): a row is written once, by
`audit.activity.record`, and never changed or deleted, by anyone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from provenance.models import AppendOnlyModel


class Activity(AppendOnlyModel):
    """One thing a user did: viewed a verdict, ran a verification, downloaded a paper, ran a what-if."""

    class Action(models.TextChoices):
        VIEWED_VERDICT = "viewed_verdict", "viewed a verdict"
        RAN_VERIFICATION = "ran_verification", "ran a verification"
        DOWNLOADED_BUNDLE = "downloaded_bundle", "downloaded a proof bundle"
        DOWNLOADED_REPORT = "downloaded_report", "downloaded a signed report"
        DOWNLOADED_PDF = "downloaded_pdf", "downloaded a verdict's PDF"
        EXPORTED_CSV = "exported_csv", "exported a CSV"
        RAN_WHAT_IF = "ran_what_if", "ran a what-if"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    subject = models.CharField(max_length=200, help_text="What it was done to: a verification, a VIN, an agreement.")
    parameters = models.JSONField(default=dict, blank=True, help_text="The what-if's date, an export's filter.")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["user", "-at"])]

    def __str__(self) -> str:
        return f"{self.user_id} {self.action} {self.subject}"
