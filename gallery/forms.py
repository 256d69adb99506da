"""Forms: search parameters, sign-up, and the owner's catalog page editor."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError

from registry import names

from .models import ABOUT_MAX, DESCRIPTION_MAX, ArtifactType
from .search import SORTS, SearchParams

# Names that would read as Berth itself, or collide with its own URLs.
RESERVED_NAMESPACES = {
    "admin",
    "api",
    "accounts",
    "berth",
    "library",
    "login",
    "logout",
    "r",
    "root",
    "search",
    "settings",
    "signup",
    "static",
    "media",
    "support",
    "token",
    "u",
    "v2",
    "www",
}


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, strip=True)
    arch = forms.MultipleChoiceField(required=False)
    os = forms.MultipleChoiceField(required=False)
    type = forms.MultipleChoiceField(required=False, choices=ArtifactType.choices)
    verified = forms.BooleanField(required=False)
    namespace = forms.CharField(required=False, max_length=255, strip=True)
    sort = forms.ChoiceField(required=False, choices=list(SORTS.items()))
    after = forms.CharField(required=False, max_length=500)
    before = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Architectures and systems are whatever the manifests say; accept any short token.
        for key in ("arch", "os"):
            values = self.data.getlist(key) if hasattr(self.data, "getlist") else []
            self.fields[key].choices = [(v, v) for v in values if 0 < len(v) <= 64]

    def params(self) -> SearchParams:
        data = self.cleaned_data if self.is_valid() else {}
        return SearchParams(
            q=data.get("q", ""),
            architectures=data.get("arch", []),
            operating_systems=data.get("os", []),
            types=data.get("type", []),
            verified=data.get("verified", False),
            namespace=data.get("namespace", ""),
            sort=data.get("sort") or "relevance",
            after=data.get("after", ""),
            before=data.get("before", ""),
        )


def validate_namespace(value: str) -> None:
    if not (2 <= len(value) <= 39) or not names.is_valid_component(value):
        raise ValidationError(
            "Use 2 to 39 lowercase letters, digits, and single . _ or - between them."
        )
    if value in RESERVED_NAMESPACES:
        raise ValidationError("This name is reserved.")


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=True)

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")
        help_texts = {"username": "Your namespace: you push to <username>/<repository>."}

    def clean_username(self):
        username = self.cleaned_data["username"]
        validate_namespace(username)
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise ValidationError("This username is taken.")
        return username

    def clean_email(self):
        email = self.cleaned_data["email"]
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise ValidationError("An account with this email already exists.")
        return email


class CatalogForm(forms.Form):
    description = forms.CharField(
        required=False, max_length=DESCRIPTION_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )
    about = forms.CharField(
        required=False,
        max_length=ABOUT_MAX,
        widget=forms.Textarea(attrs={"rows": 14}),
        strip=False,
        help_text="Markdown: tables, fenced code, links.",
    )
    usage = forms.CharField(
        required=False,
        max_length=ABOUT_MAX,
        widget=forms.Textarea(attrs={"rows": 8}),
        strip=False,
        help_text="Markdown: how to run or install it.",
    )
    is_private = forms.BooleanField(
        required=False, label="Private repository", help_text="Only you can see and pull it."
    )
