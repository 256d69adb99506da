"""Accounts: sign up, sign in (the site's and the admin's), password resets, the account page.

Every password check goes through `registry.access.auth.authenticate_credentials`, the one
place that counts failed attempts per address and per username: once over
BERTH_RATELIMIT_LOGINS, sign-ins answer 429 with Retry-After before any password is hashed,
here as on /v2/ and /token.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from registry.access import audit, auth, clients, policy, ratelimit
from registry.models import Namespace

from .forms import ChangePasswordForm, ResetPasswordForm, SignUpForm
from .models import CatalogEntry

RESETS = ratelimit.Limiter("password-resets", settings.BERTH_RATELIMIT_PASSWORD_RESETS)


def _wait_message(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many attempts. Try again in {minutes} {unit}."


class ThrottledSignIn:
    """AuthenticationForm.clean through the registry's throttled credential check."""

    throttled = 0  # seconds to wait, when refused for too many failures

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        password = self.cleaned_data.get("password") or ""
        if username and password:
            try:
                user = auth.authenticate_credentials(self.request, username, password)
            except ratelimit.Throttled as throttled:
                self.throttled = throttled.retry_after
                raise forms.ValidationError(_wait_message(throttled.retry_after)) from None
            address = clients.client_address(self.request) if self.request else ""
            if user is None:  # counted and logged by authenticate_credentials
                raise self.get_invalid_login_error()
            if getattr(user, "berth_token", None) is not None:
                # An access token is no password here: a session has every right of its
                # account, none of the token's limits (scopes, revocation, expiry).
                raise self.get_invalid_login_error()
            user.backend = getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0])
            self.user_cache = user
            self.confirm_login_allowed(user)
            audit.record(
                "signin", actor=user, address=address, namespace=user.username, target=username
            )
        return self.cleaned_data


class SignInForm(ThrottledSignIn, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledSignIn, AdminAuthenticationForm):
    pass


def throttled_response(response):
    """Give a re-rendered sign-in form refused for too many failures 429 and Retry-After."""
    form = (getattr(response, "context_data", None) or {}).get("form")
    wait = getattr(form, "throttled", 0)
    if wait:
        response.status_code = 429
        response["Retry-After"] = str(wait)
    return response


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        return throttled_response(super().form_invalid(form))


class SignOutView(auth_views.LogoutView):
    """Sign out by POST (as the header's button does); a GET (a typed or bookmarked URL)
    gets a page with the button instead of a blank 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect("home")
        return render(request, "registration/logout_confirm.html")


class ResetRequestForm(PasswordResetForm):
    """Password reset requests: the same answer, in the same time, for every address.

    Requests are limited per client address (over the limit: a form error and 429) and per
    email address (over it: no more mail, and the same answer as always). The mail is
    built and sent in the background, so a known and an unknown address cost the request
    the same work.
    """

    throttled = 0

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean(self):
        address = clients.client_address(self.request) if self.request else ""
        try:
            RESETS.take(f"address:{address}")
        except ratelimit.Throttled as throttled:
            self.throttled = throttled.retry_after
            raise forms.ValidationError(_wait_message(throttled.retry_after)) from None
        return super().clean()

    def save(self, *, domain_override=None, use_https=False, request=None, **kwargs):
        from .tasks import run_soon, send_password_reset

        email = self.cleaned_data["email"]
        if RESETS.retry_after(f"email:{email.lower()}"):
            return  # enough mail to this address for now; the page says the same
        RESETS.hit(f"email:{email.lower()}")
        domain = domain_override or (request.get_host() if request else "localhost")
        run_soon(send_password_reset, email, domain, use_https)


class ResetRequestView(auth_views.PasswordResetView):
    form_class = ResetRequestForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_invalid(self, form):
        return throttled_response(super().form_invalid(form))


class ChangePasswordView(auth_views.PasswordChangeView):
    form_class = ChangePasswordForm


class ResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = ResetPasswordForm


def deliver_password_reset(email: str, domain: str, use_https: bool) -> None:
    """Send the reset mail to every active account of `email` (the background half)."""
    form = PasswordResetForm({"email": email})
    if form.is_valid():
        form.save(domain_override=domain, use_https=use_https)


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("account")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()  # the account claims its namespace (registry.access.namespaces)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Berth, {user.username}.")
        return redirect("account")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def account(request):
    rights = policy.rights_of(request.user)
    owned = sorted(policy.writable_namespaces(request.user))
    repositories = CatalogEntry.objects.filter(namespace__in=sorted(rights.roles)).order_by("name")
    organizations = Namespace.objects.filter(
        name__in=list(rights.roles), kind=Namespace.Kind.ORGANIZATION
    ).order_by("name")
    return render(
        request,
        "gallery/account.html",
        {
            "repositories": repositories,
            "namespaces": owned,
            "namespace": request.user.username if request.user.username in owned else "",
            "organizations": [(o, rights.roles[o.name]) for o in organizations],
            "administered": policy.administered_namespaces(request.user),
        },
    )
