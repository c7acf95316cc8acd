"""Token authentication that also loads the caller's organisation."""

from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


class OrganizationTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; one query fetches token, user and organisation."""

    def authenticate_credentials(self, key):
        try:
            token = Token.objects.select_related("user__member__organization").get(key=key)
        except Token.DoesNotExist as exc:
            raise AuthenticationFailed("Invalid token.") from exc
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        return token.user, token
