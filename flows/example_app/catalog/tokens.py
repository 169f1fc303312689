"""Bearer tokens for the API, as a token (non-cookie) API hands them out:
POST /api/token/ takes an OAuth2 password form (or JSON) and answers
{"access_token": ..., "token_type": "bearer"}; a request that sends
"Authorization: Bearer <token>" is that user, with no session and no CSRF
token.  A token is the user's id signed with the SECRET_KEY (Django's
signing), valid for an hour: no table, no state."""
from django.contrib.auth import authenticate, get_user_model
from django.core import signing
from rest_framework import authentication, exceptions

SALT = "catalog.token"
MAX_AGE = 3600


def make_token(user):
    return signing.dumps({"user": user.pk}, salt=SALT)


def check_credentials(data):
    username = data.get("username")
    password = data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        return None
    return authenticate(None, username=username, password=password)


class BearerAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization: Bearer <token>")
        try:
            data = signing.loads(header[1].decode("ascii", "replace"), salt=SALT,
                                 max_age=MAX_AGE)
            user = get_user_model().objects.get(pk=data["user"], is_active=True)
        except (signing.BadSignature, KeyError, TypeError,
                get_user_model().DoesNotExist):
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return (user, None)

    def authenticate_header(self, request):
        return "Bearer"
