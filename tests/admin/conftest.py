"""Admin fixtures: a short claimed chain, a superuser and an auditor, each logged in."""

from __future__ import annotations

import pytest

from audit.auditors import create_auditor
from provenance import checkpoints
from tests.support import logged_in, mine_to_claim

VIN = "1CRNADMNTEST00001"
PASSWORD = "a-long-test-password"


@pytest.fixture
def chain(db, ledger, miner, refiner, maker):
    """AU ore, refined in JP, cells and pack made in the US, claimed: a $7,500 vehicle."""
    batches = mine_to_claim(ledger, miner, refiner, maker, VIN)
    checkpoints.publish_checkpoint()
    return batches


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)


@pytest.fixture
def auditor_user(db):
    return create_auditor("auditor", password=PASSWORD)


@pytest.fixture
def staff_viewer(django_user_model):
    """Staff who may view claims but not run verifications."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_claim", "view_verification", "view_checkpoint"])
    )
    return user


@pytest.fixture
def root_client(superuser):
    return logged_in(superuser)


@pytest.fixture
def auditor_client(auditor_user):
    return logged_in(auditor_user)
