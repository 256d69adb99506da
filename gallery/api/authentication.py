"""Who calls the API: a signed-in session (with its CSRF token for writes), or HTTP Basic
credentials checked, and throttled on failure, exactly as /v2/ checks them."""

from __future__ import annotations

from rest_framework import authentication, exceptions, permissions, throttling

from registry.access import auth, clients, credentials, ratelimit


class BasicCredentials(authentication.BasicAuthentication):
    """Basic credentials, but not on a write another site's page sends: a browser that was
    given them (the 401's challenge asks) sends them with any site's form, as it sends a
    cookie, and they carry no CSRF token. Browsers say where a request comes from in
    `Sec-Fetch-Site`; scripts and CLIs send none."""

    www_authenticate_realm = "berth"

    def authenticate(self, request):
        found = super().authenticate(request)
        if (
            found is not None
            and request.method not in permissions.SAFE_METHODS
            and request.META.get("HTTP_SEC_FETCH_SITE", "none") not in ("same-origin", "none")
        ):
            raise exceptions.PermissionDenied(
                "Basic credentials are not accepted on a write sent from another site."
            )
        return found

    def authenticate_credentials(self, userid, password, request=None):
        try:
            user = auth.authenticate_credentials(request, userid, password)
        except ratelimit.Throttled as throttled:
            raise exceptions.Throttled(wait=throttled.retry_after) from None
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid username or password.")
        return (user, None)


class AccessTokenBearer(authentication.BaseAuthentication):
    """`Authorization: Bearer berth_…`: an access token (its owner's name is in the row)."""

    keyword = "bearer"

    def authenticate(self, request):
        scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        value = value.strip()
        if scheme.lower() != self.keyword or not credentials.looks_like_token(value):
            return None
        token = credentials.owner_of(value, address=clients.client_address(request))
        if token is None:
            raise exceptions.AuthenticationFailed(
                "The access token is invalid, expired or revoked."
            )
        user = token.user
        user.berth_token = token
        return (user, token)

    def authenticate_header(self, request):
        return 'Bearer realm="berth"'


class TokenScopes(permissions.BasePermission):
    """A request made with an access token needs its api-read (reads) or api-write (writes)
    scope; the token never grants more than its owner may do (registry.access.policy)."""

    message = "This access token lacks the scope for this request."

    def has_permission(self, request, view):
        token = getattr(request.user, "berth_token", None)
        if token is None:
            return True
        needed = "api-read" if request.method in permissions.SAFE_METHODS else "api-write"
        return needed in token.scopes


class AnonymousRate(throttling.AnonRateThrottle):
    """Anonymous use per client address, counted in the shared cache (right across
    processes); the address comes from trusted proxies only (registry.access.clients)."""

    def get_ident(self, request):
        return clients.client_address(request)


class UserRate(throttling.UserRateThrottle):
    """Signed-in use per user. Anonymous requests are AnonymousRate's alone: counting them
    here too cost a second write to the shared cache on every request."""

    def get_cache_key(self, request, view):
        if not request.user.is_authenticated:
            return None  # not throttled here
        return super().get_cache_key(request, view)
