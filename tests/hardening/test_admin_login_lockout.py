"""The admin's password login is throttled by django-axes: an address that
fails CAIRN_LOGIN_FAILURE_LIMIT times is locked out and told so; other
addresses, and the users behind them, are not."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("ada", password="right-horse-battery", is_staff=True)


@pytest.fixture
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.CAIRN_TRUSTED_PROXIES = ["127.0.0.1"]
    return 3


def login(address: str, password: str, username: str = "ada"):
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=address)
    return client.post(LOGIN, {"username": username, "password": password})


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_an_address_is_locked_out_after_the_limit_and_told_so(staff, limit):
    for _ in range(limit - 1):
        answer = login("198.51.100.9", "guess")
        assert answer.status_code == 200 and b"Please enter the correct username and password" in answer.content
    locked = login("198.51.100.9", "guess")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert b"locked after 3 failed attempts" in locked.content
    # Locked out: even the right password is refused from that address.
    assert login("198.51.100.9", "right-horse-battery").status_code == 429
    assert AccessAttempt.objects.get().ip_address == "198.51.100.9"


def test_other_addresses_and_their_users_are_not_locked_out(staff, limit):
    for _ in range(limit):
        login("198.51.100.9", "guess")
    assert login("198.51.100.9", "right-horse-battery").status_code == 429
    # The same user from their own address logs in.
    assert logged_in(login("198.51.100.10", "right-horse-battery"))


def test_a_spoofed_forwarded_for_does_not_dodge_the_lockout(staff, limit):
    for n in range(limit):
        Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").post(
            LOGIN, {"username": "ada", "password": "guess"}
        )
    spoofed = Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert spoofed.post(LOGIN, {"username": "ada", "password": "right-horse-battery"}).status_code == 429


def test_a_success_before_the_limit_clears_the_failures(staff, limit):
    for _ in range(limit - 1):
        login("198.51.100.9", "guess")
    assert logged_in(login("198.51.100.9", "right-horse-battery"))
    for _ in range(limit - 1):
        assert login("198.51.100.9", "guess").status_code == 200
