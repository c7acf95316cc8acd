"""Recording what admin users do with verdicts (audit.models.Activity).

`record` is the one write: the admin's views (and `verdict_pdf.download`)
call it after the action they record has succeeded (a verdict shown, a
file sent, a what-if run).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.utils import timezone

from audit.models import Activity

Action = Activity.Action


def record(
    user: AbstractBaseUser | AnonymousUser, action: Activity.Action, subject: object, **parameters: Any
) -> Activity | None:
    """Append one row for an authenticated user (nothing for anyone else)."""
    if not isinstance(user, User) or not user.is_authenticated:
        return None
    return Activity.objects.create(
        user=user, at=timezone.now(), action=action, subject=str(subject)[:200], parameters=parameters
    )
