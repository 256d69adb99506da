"""Forms: search parameters, sign-up, password changes, the owner's catalog page editor and
a publisher's profile."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm, UserCreationForm
from django.contrib.auth.password_validation import password_validators_help_texts
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from registry.access import namespaces
from registry.text import is_storable

from .models import ABOUT_MAX, DESCRIPTION_MAX, ArtifactType, Publisher
from .search import SORTS, SearchParams


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, strip=True)
    arch = forms.MultipleChoiceField(required=False)
    os = forms.MultipleChoiceField(required=False)
    type = forms.MultipleChoiceField(required=False, choices=ArtifactType.choices)
    verified = forms.BooleanField(required=False)
    signed = forms.BooleanField(required=False)
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
            signed=data.get("signed", False),
            namespace=data.get("namespace", ""),
            sort=data.get("sort") or "relevance",
            after=data.get("after", ""),
            before=data.get("before", ""),
        )


class NewPasswordErrorsUnderIt:
    """What is wrong with a new password is said under it, beside its rules: Django says it
    under the confirmation, below the rules a person is reading."""

    new_password_field = "new_password1"  # noqa: S105 (a field's name)

    def validate_password_for_user(self, user, password_field_name=None, **kwargs):
        # Django names the field to put them under, the confirmation: always the new one.
        super().validate_password_for_user(
            user, password_field_name=self.new_password_field, **kwargs
        )


class ChangePasswordForm(NewPasswordErrorsUnderIt, PasswordChangeForm):
    pass


class ResetPasswordForm(NewPasswordErrorsUnderIt, SetPasswordForm):
    pass


class SignUpForm(NewPasswordErrorsUnderIt, UserCreationForm):
    new_password_field = "password1"  # noqa: S105 (a field's name)
    email = forms.EmailField(required=True)

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")
        help_texts = {"username": "Also your namespace: you push to <username>/<repository>."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Django's help is an HTML list; the form template escapes help texts.
        self.fields["password1"].help_text = " ".join(password_validators_help_texts())

    def clean_username(self):
        """The username is also a namespace: it must be one nobody has or had.

        Email addresses are not checked for uniqueness: telling a stranger that an address
        has an account here would reveal who uses Berth. Password reset mails go to every
        account of the address."""
        username = self.cleaned_data["username"]
        problem = namespaces.naming_problem(username)
        if not problem and get_user_model().objects.filter(username__iexact=username).exists():
            problem = "This name is taken."
        if problem:
            raise ValidationError(problem)
        return username


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
        required=False,
        label="Private repository",
        help_text="Only its namespace's members and those its policy allows see and pull it.",
    )


# Controls that would break a name out of its line or reorder what follows it on the page
# (right-to-left overrides spell "gpj.exe" as "exe.jpg").
BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class WebAddressField(forms.URLField):
    # Django's URL fields also take ftp:// links; a profile links to a web page.
    default_validators = [URLValidator(schemes=["http", "https"])]
    # Also the validator's message: a field's message for a code replaces its validators'.
    default_error_messages = {"invalid": "Enter an http:// or https:// address."}


class ProfileForm(forms.Form):
    """A publisher's profile on `/u/<namespace>`: plain text and one http(s) link."""

    display_name = forms.CharField(
        required=False,
        max_length=Publisher._meta.get_field("display_name").max_length,
        help_text="Shown instead of the namespace's name. Empty: the namespace's name.",
    )
    bio = forms.CharField(
        required=False,
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Plain text, shown on the publisher's page and in link previews.",
    )
    website = WebAddressField(
        required=False,
        max_length=Publisher._meta.get_field("website").max_length,
        assume_scheme="https",
        help_text="An http:// or https:// address.",
    )

    def clean(self):
        # Half of a UTF-16 pair is no character: the database cannot store it (a 500). Forms
        # decode a request with replacement characters, but the form may be given any str.
        for key, value in list(self.cleaned_data.items()):
            if not is_storable(value):
                self.add_error(key, "Enter text without invalid characters.")
        return self.cleaned_data

    def clean_display_name(self):
        name = self.cleaned_data["display_name"]
        if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in BIDI_CONTROLS for c in name):
            raise ValidationError("Use letters, digits, spaces and punctuation only.")
        return name
