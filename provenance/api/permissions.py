"""Who may call which endpoint (contract §1, §5)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from provenance.errors import LedgerError
from provenance.models import Organization


def organization_of(request) -> Organization:
    """The caller's organisation; a user outside every organisation has no API role."""
    member = getattr(request.user, "member", None)
    if member is None:
        raise LedgerError("role_not_allowed", "Your account belongs to no organisation.")
    return member.organization


class HasRole(BasePermission):
    """Allow callers whose organisation has one of `roles`."""

    roles: tuple[str, ...] = ()

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False  # DRF answers not_authenticated
        org = organization_of(request)
        if self.roles and not org.has_role(*self.roles):
            raise LedgerError("role_not_allowed", f"This endpoint is for {' or '.join(self.roles)} organisations.")
        return True

    @classmethod
    def of(cls, *roles: str) -> type[HasRole]:
        return type(f"HasRole_{'_'.join(roles) or 'any'}", (cls,), {"roles": roles})


IsMember = HasRole.of()
IsWriter = HasRole.of("supplier", "manufacturer", "certifier")
IsAuditor = HasRole.of("auditor")
