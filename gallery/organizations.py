"""Pages for publishers' access: organizations and their members, robots, settings and
audit log, and each account's access tokens. Thin views over registry.access services."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from registry import names
from registry.access import audit, clients, credentials, organizations, policy, sharing
from registry.access.models import Scope
from registry.access.organizations import AccessError
from registry.models import Namespace, Role

from . import services
from .api.access import audit_events, csv_response
from .forms import ProfileForm

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "A year"), ("", "Never")]


def _actor(request) -> audit.Actor:
    return audit.Actor(request.user.username, request.user.pk, clients.client_address(request))


def _posted_name(request, key: str) -> str:
    """A name the form names (a member, a robot); "" for one with a NUL, which no name has
    and PostgreSQL refuses to compare."""
    value = request.POST.get(key, "")
    return "" if "\x00" in value else value


def _posted_id(request, key: str) -> int | None:
    """A row id the form names (a token, a rule); None for anything but digits (int() takes "²"
    for a digit no more than "x")."""
    return _as_id(request.POST.get(key, ""))


def _as_id(value: str) -> int | None:
    """A row id from the digits of a form or a path; None for anything else."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


# -- access tokens ------------------------------------------------------------------------------

SHOWN_ONCE = "berth:secret-shown-once"


def _show_once(request, secret: str, username: str, *args, **kwargs):
    """Redirect to the page that shows a new token's secret, once: reloading that page, or
    going back to it, shows no secret and creates no second token (as answering the form's
    POST with the secret did). The secret waits in the session only until that GET, and
    only that page takes it, with the username it signs in with."""
    response = redirect(*args, **kwargs)
    request.session[SHOWN_ONCE] = {"path": response.url, "secret": secret, "username": username}
    return response


def _shown_once(request) -> tuple[str | None, str]:
    """The secret to show on this page, and its username; (None, "") if none waits."""
    kept = request.session.get(SHOWN_ONCE)
    if request.method != "GET" or not isinstance(kept, dict) or kept["path"] != request.path:
        return None, ""
    del request.session[SHOWN_ONCE]
    return kept["secret"], kept.get("username", "")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where it is used, e.g. “CI on main”.")
    scopes = forms.MultipleChoiceField(
        # What each allows, with the word the token list and the API use for it.
        choices=[(value, f"{label} ({value})") for value, label in Scope.choices],
        widget=forms.CheckboxSelectMultiple,
        initial=["pull", "push"],
    )
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", required=False)


@never_cache  # a page may show a secret once: never from the browser's cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    form = (
        TokenForm(request.POST or None) if request.POST.get("action") == "create" else TokenForm()
    )
    created, _ = _shown_once(request)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires"]
        _, secret = credentials.create_token(
            user=request.user,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=timezone.now() + timedelta(days=int(days)) if days else None,
            address=clients.client_address(request),
        )
        return _show_once(request, secret, request.user.username, "tokens")
    return render(
        request,
        "gallery/tokens.html",
        {"form": form, "created": created, "tokens": request.user.access_tokens.all()},
    )


@login_required
@require_http_methods(["GET", "POST"])
def revoke_token(request, token: str):
    """Revoke one of one's tokens: a page says which token and what stops working, and asks;
    its POST revokes (a Revoke button in the list did at once)."""
    found = request.user.access_tokens.filter(pk=_as_id(token)).first()
    if found is None:
        raise Http404("No such token")
    if found.revoked_at is not None:
        messages.info(request, f"Token “{found.name}” is already revoked.")
        return redirect("tokens")
    if request.method == "POST":
        credentials.revoke(token=found, actor=request.user, address=clients.client_address(request))
        messages.success(request, f"Token “{found.name}” revoked.")
        return redirect("tokens")
    return render(request, "gallery/token_revoke.html", {"token": found})


# -- organizations ------------------------------------------------------------------------------


class OrganizationForm(forms.Form):
    name = forms.CharField(
        max_length=39, help_text="Also its namespace: repositories are <name>/<repository>."
    )


@login_required
@require_http_methods(["GET", "POST"])
def new_organization(request):
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = organizations.create_organization(
                name=form.cleaned_data["name"],
                owner=request.user,
                address=clients.client_address(request),
            )
        except AccessError as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"Organization {organization.name} created.")
            return redirect("members", namespace=organization.name)
    return render(request, "gallery/organization_new.html", {"form": form})


def _managed(request, namespace: str, *, organization_only: bool = True) -> Namespace:
    """The namespace if the signed-in user administers it (404 otherwise, as for a
    namespace that does not exist)."""
    record = Namespace.objects.filter(name=namespace).first()
    if record is None or (organization_only and record.kind != Namespace.Kind.ORGANIZATION):
        raise Http404("No such organization")
    allowed = namespace in policy.administered_namespaces(request.user) or policy.is_superuser(
        request.user
    )
    if not allowed:
        raise Http404("No such organization")
    return record


def _organization_context(request, organization, tab: str) -> dict:
    return {
        "organization": organization,
        "tab": tab,
        "your_role": policy.rights_of(request.user).roles.get(organization.name),
    }


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.READER)


@login_required
@require_http_methods(["GET", "POST"])
def members(request, namespace: str):
    record = Namespace.objects.filter(name=namespace, kind=Namespace.Kind.ORGANIZATION).first()
    role = policy.rights_of(request.user).roles.get(namespace)
    if record is None or (role is None and not policy.is_superuser(request.user)):
        raise Http404("No such organization")
    manages = namespace in policy.administered_namespaces(request.user) or policy.is_superuser(
        request.user
    )
    form = MemberForm(request.POST or None) if request.POST.get("action") == "add" else MemberForm()
    if request.method == "POST":
        error = _change_members(request, record, form, manages=manages, role=role)
        if error is None and request.POST.get("action") == "leave":
            # Their members page is no longer theirs to see (it was a 404).
            messages.success(request, f"You left {namespace}.")
            return redirect("account")
        if error is None:
            return redirect("members", namespace=namespace)
        if error:
            messages.error(request, error)
    context = _organization_context(request, record, "members")
    context.update(
        form=form,
        manages=manages,
        roles=Role.choices,
        members=record.memberships.select_related("user").order_by("user__username"),
        # The last owner may not leave (registry.access.organizations): offer no Leave
        # button that is then refused.
        last_owner=role == Role.OWNER and organizations.owner_count(record) == 1,
    )
    return render(request, "gallery/organization_members.html", context)


def _change_members(request, organization, form, *, manages: bool, role) -> str | None:
    """Apply one members form; None on success, "" for a form error, else a message."""
    action = request.POST.get("action")
    user_model = get_user_model()
    try:
        if action == "leave":
            organizations.remove_member(
                organization=organization, user=request.user, actor=_actor(request)
            )
            return None
        if not manages:
            return "Only owners and admins manage members."
        if action == "add":
            if not form.is_valid():
                return ""
            user = user_model.objects.filter(
                username=form.cleaned_data["username"], is_active=True
            ).first()
            if user is None:
                form.add_error("username", "No such user.")
                return ""
            new_role = form.cleaned_data["role"]
            refused = _set_role(request, organization, user, new_role, role)
            if refused is None:
                messages.success(
                    request, f"{user.username} is a member, as {_role_word(new_role)}."
                )
            return refused
        target = user_model.objects.filter(username=_posted_name(request, "username")).first()
        if target is None:
            return "No such member."
        if action == "role":
            if not organization.memberships.filter(user=target).exists():
                return "No such member."  # members are added with "add" (active accounts)
            new_role = request.POST.get("role", "")
            refused = _set_role(request, organization, target, new_role, role)
            if refused is None:
                messages.success(request, f"{target.username} is now {_role_word(new_role)}.")
            return refused
    except AccessError as error:
        return str(error)
    return "Unknown action."


# What a member loses with their role, as the removal page says it (README's table of roles).
ROLE_RIGHTS = {
    Role.READER: "pulling its private repositories",
    Role.MAINTAINER: "pulling its private repositories, pushing to its repositories and "
    "deleting their tags and images",
    Role.ADMIN: "pulling its private repositories, pushing to its repositories and deleting "
    "their tags and images, changing their visibility and policies, and managing its members, "
    "robots and audit log",
    Role.OWNER: "everything in it, down to deleting the organization",
}


@login_required
@require_http_methods(["GET", "POST"])
def remove_member(request, namespace: str, username: str):
    """Remove a member: a page says who loses what and asks; its POST removes (a Remove
    button in the list did at once). Leaving is the members page's own Leave."""
    record = _managed(request, namespace)
    membership = (
        record.memberships.select_related("user")
        .filter(user__username=username)
        .exclude(user=request.user)
        .first()
    )
    if membership is None:
        raise Http404("No such member")
    member = membership.user
    if (
        membership.role == Role.OWNER
        and policy.rights_of(request.user).roles.get(namespace) != Role.OWNER
    ):
        messages.error(request, "Only owners may remove owners.")
        return redirect("members", namespace=namespace)
    if request.method == "POST":
        try:
            organizations.remove_member(organization=record, user=member, actor=_actor(request))
        except AccessError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"{member.username} is no longer a member.")
        return redirect("members", namespace=namespace)
    context = _organization_context(request, record, "members")
    context.update(
        member=member,
        role_word=_role_word(membership.role),
        rights=ROLE_RIGHTS[membership.role],
    )
    return render(request, "gallery/organization_member_remove.html", context)


def _role_word(role: str) -> str:
    """ "an owner", "a reader": the role as a sentence names it."""
    label = Role(role).label.lower()
    return f"{'an' if label[0] in 'aeiou' else 'a'} {label}"


def _set_role(request, organization, user, new_role: str, my_role) -> str | None:
    current = organization.memberships.filter(user=user).values_list("role", flat=True).first()
    if Role.OWNER in (new_role, current) and my_role != Role.OWNER:
        return "Only owners may make or unmake owners."
    organizations.set_member(
        organization=organization, user=user, role=new_role, actor=_actor(request)
    )
    return None


class RobotForm(forms.Form):
    name = forms.CharField(max_length=organizations.ROBOT_NAME_MAX, help_text="e.g. ci")
    description = forms.CharField(max_length=255, required=False)
    repository = forms.CharField(
        max_length=255,
        required=False,
        help_text="Its name within the organization, e.g. web. Leave empty for every repository.",
    )
    access = forms.ChoiceField(
        choices=[("pull", "Pull"), ("pull,push", "Pull and push"),
                 ("pull,push,delete", "Pull, push and delete")],
        initial="pull,push",
    )  # fmt: skip


def in_organization(organization: str, repository: str) -> str:
    """`web` as `acme/web`: on its own pages an organization's repositories go by their own
    names too (a full name was the only one taken, and `web` was refused)."""
    repository = repository.strip()
    return f"{organization}/{repository}" if repository and "/" not in repository else repository


def permission_lines(text: str, organization: str) -> list[dict]:
    """`<repository> <actions>` per line (`*` for every repository of the organization),
    as the API's permissions: [{"repository", "actions"}]."""
    permissions = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise AccessError(f"“{line.strip()[:80]}”: write a repository (or *), then pull,push.")
        repository = "" if parts[0] == "*" else in_organization(organization, parts[0])
        permissions.append({"repository": repository, "actions": parts[1].split(",")})
    return permissions


@never_cache  # a page may show a secret once: never from the browser's cache
@login_required
@require_http_methods(["GET", "POST"])
def robots(request, namespace: str):
    record = _managed(request, namespace)
    form = (
        RobotForm(request.POST or None) if request.POST.get("action") == "create" else RobotForm()
    )
    created, created_for = _shown_once(request)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "create":
                made = _create_robot(request, record, form)
            else:
                made = _change_robot(request, record)
                if made is None:
                    return redirect("robots", namespace=namespace)
            if made:
                return _show_once(request, *made, "robots", namespace=namespace)
        except AccessError as error:
            messages.error(request, str(error))
    context = _organization_context(request, record, "robots")
    context.update(
        form=form,
        created=created,
        created_for=created_for,
        robots=record.robots.select_related("user").prefetch_related(
            "permissions", "user__access_tokens"
        ),
    )
    return render(request, "gallery/organization_robots.html", context)


def _create_robot(request, record, form) -> tuple[str, str] | None:
    """The new robot's token and username, or None (the form says what is wrong)."""
    if not form.is_valid():
        return None
    repository = in_organization(record.name, form.cleaned_data["repository"])
    if repository and (
        not names.is_valid_name(repository) or names.namespace_of(repository) != record.name
    ):
        form.add_error("repository", f"Name a repository of {record.name}, e.g. web.")
        return None
    try:
        robot, secret = organizations.create_robot(
            organization=record,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            permissions=[
                {
                    "repository": repository,
                    "actions": form.cleaned_data["access"].split(","),
                }
            ],
            actor=request.user,
            address=clients.client_address(request),
        )
    except AccessError as error:
        form.add_error(None, str(error))
        return None
    return secret, robot.user.username


def _change_robot(request, record) -> tuple[str, str] | None:
    """One robot's form: a new token (its secret, shown once, and the robot's username), or a
    deletion, a revoked token or new permissions (None: done, the page is shown again)."""
    action = request.POST.get("action")
    robot = record.robots.select_related("user").filter(name=_posted_name(request, "robot")).first()
    if robot is None:
        raise Http404("No such robot")
    address = clients.client_address(request)
    if action == "token":
        _, secret = credentials.create_token(
            user=robot.user,
            name="robot",
            scopes=organizations.ROBOT_TOKEN_SCOPES,
            actor=request.user,
            address=address,
        )
        return secret, robot.user.username
    if action == "delete":
        # As for a repository or an organization: its CI stops pushing at once.
        if request.POST.get("confirm", "") != robot.name:
            raise AccessError(f"Type {robot.name} to delete the robot {robot.user.username}.")
        organizations.delete_robot(robot=robot, actor=_actor(request))
        messages.success(request, f"Robot {robot.user.username} deleted.")
    elif action == "revoke":
        token = robot.user.access_tokens.filter(pk=_posted_id(request, "token")).first()
        if token is None:
            raise Http404("No such token")
        credentials.revoke(token=token, actor=request.user, address=address)
        messages.success(request, f"A token of {robot.user.username} revoked.")
    elif action == "permissions":
        organizations.set_robot_permissions(
            robot=robot,
            permissions=permission_lines(request.POST.get("permissions", ""), record.name),
            actor=request.user,
            address=address,
        )
        messages.success(request, f"Permissions of {robot.user.username} saved.")
    else:
        raise AccessError("Unknown action.")
    return None


class NamespaceSettingsForm(forms.Form):
    default_visibility = forms.ChoiceField(
        choices=[("", "The site's default"), ("public", "Public"), ("private", "Private")],
        required=False,
        label="New repositories are",
    )
    networks = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One CIDR range per line (e.g. 10.0.0.0/8). Empty: from anywhere.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        word = "private" if settings.BERTH_NEW_REPOSITORIES_PRIVATE else "public"
        visibility = self.fields["default_visibility"]
        visibility.choices = [("", f"The site's default ({word})"), *visibility.choices[1:]]


@login_required
@require_http_methods(["GET", "POST"])
def namespace_settings(request, namespace: str):
    record = _managed(request, namespace, organization_only=False)
    initial = {
        "default_visibility": {None: "", True: "private", False: "public"}[record.default_private],
        "networks": "\n".join(record.network_rules.values_list("network", flat=True)),
    }
    form = NamespaceSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and request.POST.get("action") == "delete":
        return _delete_organization(request, record)
    if request.method == "POST" and form.is_valid():
        try:
            sharing.set_namespace_networks(
                namespace=record,
                networks=form.cleaned_data["networks"].split(),
                actor=_actor(request),
            )
        except AccessError as error:
            form.add_error("networks", str(error))
        else:
            # Only once the whole form is good: a refused form changes nothing.
            chosen = form.cleaned_data["default_visibility"]
            Namespace.objects.filter(pk=record.pk).update(
                default_private={"": None, "private": True, "public": False}[chosen]
            )
            messages.success(request, "Saved.")
            return redirect("namespace-settings", namespace=namespace)
    context = _organization_context(request, record, "settings")
    context["form"] = form
    return render(request, "gallery/organization_settings.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def namespace_profile(request, namespace: str):
    """The publisher's profile on `/u/<namespace>`, for those who administer the namespace."""
    record = _managed(request, namespace, organization_only=False)
    publisher = services.shown_publisher(namespace=record.name)
    initial = {key: getattr(publisher, key, "") for key in services.PROFILE_FIELDS}
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.update_profile(namespace=record, actor=_actor(request), **form.cleaned_data)
        messages.success(request, "Profile saved.")
        return redirect("namespace-profile", namespace=namespace)
    context = _organization_context(request, record, "profile")
    context["form"] = form
    return render(request, "gallery/organization_profile.html", context)


def _delete_organization(request, record):
    rights = policy.rights_of(request.user)
    owner = rights.roles.get(record.name) == Role.OWNER or rights.superuser
    if record.kind != Namespace.Kind.ORGANIZATION or not owner:
        messages.error(request, "Only an organization's owners may delete it.")
    elif request.POST.get("confirm") != record.name:
        messages.error(request, f"Type {record.name} to confirm.")
    else:
        deleted = organizations.delete_organization(
            organization=record, actor=request.user, address=clients.client_address(request)
        )
        messages.success(
            request, f"Organization {record.name} deleted with {len(deleted)} repositories."
        )
        return redirect("account")
    return redirect("namespace-settings", namespace=record.name)


AUDIT_PAGE_EVENTS = 200


@login_required
def audit_log(request, namespace: str):
    record = _managed(request, namespace, organization_only=False)
    params = {key: request.GET.get(key, "") for key in ("action", "actor")}
    params["namespace"] = record.name
    events = audit_events(request.user, params)
    if request.GET.get("format") == "csv":
        return csv_response(events[:10_000])
    context = _organization_context(request, record, "audit")
    context.update(
        events=events[:AUDIT_PAGE_EVENTS],
        actions=sorted(audit.ACTIONS.items()),
        params=params,
        # Those the filter matches ("200 of" every event of the namespace, however few).
        total=events.count(),
        shown=AUDIT_PAGE_EVENTS,
    )
    return render(request, "gallery/organization_audit.html", context)
