"""Who calls the API: a signed-in session (with its CSRF token for writes), or HTTP Basic
credentials checked, and throttled on failure, exactly as /v2/ checks them."""

from __future__ import annotations

from rest_framework import authentication, exceptions, throttling

from registry.access import auth, clients, ratelimit


class BasicCredentials(authentication.BasicAuthentication):
    www_authenticate_realm = "berth"

    def authenticate_credentials(self, userid, password, request=None):
        try:
            user = auth.authenticate_credentials(request, userid, password)
        except ratelimit.Throttled as throttled:
            raise exceptions.Throttled(wait=throttled.retry_after) from None
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid username or password.")
        return (user, None)


class AnonymousRate(throttling.AnonRateThrottle):
    """Anonymous use per client address, counted in the shared cache (right across
    processes); the address comes from trusted proxies only (registry.access.clients)."""

    def get_ident(self, request):
        return clients.client_address(request)


class UserRate(throttling.UserRateThrottle):
    def get_ident(self, request):
        return clients.client_address(request)
