"""Token authentication that also loads the caller's organisation."""

import functools
import time
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled

from provenance.api.throttles import AuthFailureThrottle
from provenance.append import lookups
from provenance.models import Member, Organization

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class OrganizationTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; one query fetches token, user, membership
    and organisation (every API call makes it, so it is plain SQL).

    Failed authentication is throttled per client address: an address that
    has spent its budget of failures (CAIRN_AUTH_FAILURE_RATE) gets 429
    `rate_limited` with Retry-After before any token is looked up, so
    guessing tokens costs time and the database nothing. A valid token sent
    from that address meanwhile waits as well: answering it would tell a
    guesser which guess was right.
    """

    def authenticate(self, request):
        failures = AuthFailureThrottle()
        if failures.locked(request):
            raise Throttled(failures.wait(), "Too many failed authentications from this address.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            failures.charge(request, None, 1)
            raise

    def authenticate_credentials(self, key):
        token = token_with_organization(key)
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        return token.user, token


class CsrfCheckedSessionAuthentication(SessionAuthentication):
    """The admin's session, for the browsable API. A write whose CSRF check
    fails is not authenticated by its cookie: `not_authenticated` (401, the
    contract's code for a request without valid credentials; docs/decisions.md,
    "Authentication failures"), not DRF's 403 that would read as
    `role_not_allowed`."""

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except PermissionDenied as exc:
            raise AuthenticationFailed(
                f"{exc.detail} A session authenticates a write only with its CSRF token; "
                "API clients send Authorization: Token <key>."
            ) from exc


class AppendTokenAuthentication(OrganizationTokenAuthentication):
    """For POST /attestations: a token's lookup is remembered for
    CAIRN_APPEND_AUTH_CACHE_SECONDS in this process, so that a web worker
    answers an append without touching the database at all.

    That is safe because the append transaction checks the token again: its
    user must still be active and in an organisation, and the issuer and role
    checks use that organisation as it is then (provenance.append.checks). A token
    revoked, a user deactivated or moved, or a role withdrawn is refused by
    the very next append, whatever this cache holds.
    """

    def authenticate_credentials(self, key):
        ttl = settings.CAIRN_APPEND_AUTH_CACHE_SECONDS
        now = time.monotonic()
        cached = _append_auth_cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        credentials = super().authenticate_credentials(key)
        if ttl > 0:
            if len(_append_auth_cache) >= 10_000:  # bounded: forget everything rather than grow
                _append_auth_cache.clear()
            _append_auth_cache[key] = (now + ttl, credentials)
        return credentials


_append_auth_cache: dict[str, tuple[float, tuple]] = {}


def forget_token(key: str | None) -> None:
    """Forget a token the append found no longer valid: the next request
    looks it up again (and is refused at authentication)."""
    if key is not None:
        _append_auth_cache.pop(key, None)


def token_with_organization(key: str) -> Token | None:
    """The token `key` with its user, and the user's Member and Organization
    already attached (`token.user.member.organization` makes no query)."""
    token_rows, user_rows, member_rows, org_rows = _shapes()
    with lookups.cursor() as db:
        db.execute(_sql(), [key])
        row = db.fetchone()
    if row is None:
        return None
    cut = _offsets(token_rows, user_rows, member_rows)
    # Each shape builds an instance of its own model (lookups.Shape.build says Model).
    token = cast(Token, token_rows.build(row[: cut[0]]))
    token.user = user = cast("User", user_rows.build(row[cut[0] : cut[1]]))
    if row[cut[1]] is None:  # no membership: remember that, so asking makes no query
        Member.user.field.remote_field.set_cached_value(user, None)
    else:
        member = cast(Member, member_rows.build(row[cut[1] : cut[2]]))
        member.user = user  # also sets user.member
        member.organization = cast(Organization, org_rows.build(row[cut[2] :]))
    return token


def _shapes() -> tuple[lookups.Shape, ...]:
    return lookups.shape(Token), lookups.shape(get_user_model()), lookups.shape(Member), lookups.shape(Organization)


@functools.cache
def _sql() -> str:
    token_rows, user_rows, member_rows, org_rows = _shapes()
    return (
        f"SELECT {token_rows.columns('t')}, {user_rows.columns('u')}, {member_rows.columns('m')}, "
        f"{org_rows.columns('o')} FROM {token_rows.table} t "
        f"JOIN {user_rows.table} u ON u.{user_rows.column('id')} = t.{token_rows.column('user')} "
        f"LEFT JOIN {member_rows.table} m ON m.{member_rows.column('user')} = u.{user_rows.column('id')} "
        f"LEFT JOIN {org_rows.table} o ON o.{org_rows.column('slug')} = m.{member_rows.column('organization')} "
        f"WHERE t.{token_rows.column('key')} = %s"
    )


def _offsets(*shapes: lookups.Shape) -> list[int]:
    ends, total = [], 0
    for shape in shapes:
        total += len(shape.fields)
        ends.append(total)
    return ends
