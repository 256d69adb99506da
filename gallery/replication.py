"""The namespace's replication page (`/u/<ns>/-/replication`, a tab of its settings): its
rules with their status and "Replicate now", a form for a new rule, and the rules other
publishers ask to copy into it, to accept or decline. Thin views over
registry.replication."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from registry.access import policy
from registry.models import ReplicationRule
from registry.replication import services, tasks

from .organizations import _managed, _organization_context, _posted_id


def _longest(field: str) -> int:
    """The column's length: a longer value is a form error here, not the database's (500)."""
    return ReplicationRule._meta.get_field(field).max_length


class RuleForm(forms.Form):
    kind = forms.ChoiceField(
        label="Copy to",
        choices=[("registry", "Another registry"), ("publisher", "Another publisher on this site")],
        widget=forms.RadioSelect,
        initial="registry",
    )
    url = forms.CharField(
        required=False,
        max_length=_longest("url"),
        label="Registry URL",
        help_text="e.g. https://registry.eu.example.com",
    )
    destination_namespace = forms.CharField(
        required=False,
        max_length=_longest("destination_namespace"),
        label="Under",
        help_text="A path at the destination, e.g. mirror (empty: the same names as here).",
    )
    username = forms.CharField(required=False, max_length=_longest("username"))
    password = forms.CharField(
        required=False,
        label="Password or token",
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; sent to that registry and its token service only.",
    )
    publisher = forms.CharField(
        required=False, help_text="Their namespace; they accept before anything is copied."
    )
    filter = forms.CharField(
        required=False,
        max_length=_longest("filter"),
        label="Repositories",
        help_text="Empty for all; a prefix (team/) or a glob (app-*).",
    )
    replicate_deletes = forms.BooleanField(
        required=False, label="Delete there what is deleted here (tags this rule set only)"
    )
    allow_private_networks = forms.BooleanField(
        required=False, label="Allow private networks (site staff only)"
    )

    def __init__(self, *args, staff: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not staff:
            del self.fields["allow_private_networks"]

    def clean(self):
        values = super().clean()
        # Said in words a person acts on (the service's own: "Give either a registry URL or
        # a publisher", "not an http(s) URL: 'registry.example.com'").
        if values.get("kind") == "registry":
            url = values.get("url", "")
            if not url:
                self.add_error("url", "Give the registry's URL.")
            elif "://" not in url:
                self.add_error("url", f"Start it with https://, as in https://{url[:100]}.")
        elif values.get("kind") == "publisher" and not values.get("publisher"):
            self.add_error("publisher", "Give the publisher's namespace.")
        return values


def _rule(record, rule_id: int | None, *, incoming: bool = False) -> ReplicationRule:
    rules = record.incoming_replication_rules if incoming else record.replication_rules
    rule = rules.filter(pk=rule_id).first() if rule_id is not None else None
    if rule is None:
        raise Http404("No such rule")
    return rule


@login_required
@require_http_methods(["GET", "POST"])
def replication(request, namespace: str):
    record = _managed(request, namespace, organization_only=False)
    staff = request.user.is_staff or policy.is_superuser(request.user)
    action = request.POST.get("action", "")
    form = RuleForm(request.POST if action == "create" else None, staff=staff)
    if request.method == "POST" and action != "create":
        return _act(request, record, action)
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        to_registry = values["kind"] == "registry"
        try:
            services.create_rule(
                namespace=record,
                actor=request.user,
                filter=values["filter"],
                url=values["url"] if to_registry else "",
                destination_namespace=values["destination_namespace"] if to_registry else "",
                username=values["username"] if to_registry else "",
                password=values["password"] if to_registry else "",
                allow_private_networks=values.get("allow_private_networks", False),
                target="" if to_registry else values["publisher"],
                replicate_deletes=values["replicate_deletes"],
            )
        except ValidationError as error:
            # Under the field the person filled (or left empty), not above the form.
            chosen = "url" if to_registry else "publisher"
            fields = {"target": "publisher", "destination": chosen}
            for field, problems in error.message_dict.items():
                field = fields.get(field, field)
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, "Rule created.")
            return redirect("namespace-replication", namespace=namespace)
    context = _organization_context(request, record, "replication")
    context |= {
        "form": form,
        "outgoing": [(rule, services.status_of(rule)) for rule in record.replication_rules.all()],
        "incoming": [
            (rule, services.status_of(rule, viewer=request.user))
            for rule in record.incoming_replication_rules.select_related("namespace")
        ],
    }
    return render(request, "gallery/organization_replication.html", context)


def _act(request, record, action: str):
    rule_id = _posted_id(request, "rule")
    if action == "run":
        rule = _rule(record, rule_id)
        if rule.ready:
            queued = tasks.replicate_now(rule)
            messages.success(request, f"Replicating {len(queued)} repositories.")
        else:
            messages.error(request, "The rule waits for its publisher to accept it.")
    elif action == "delete":
        rule = _rule(record, rule_id)
        services.delete_rule(rule=rule, actor=request.user)
        messages.success(request, "Rule deleted; the copies stay where they are.")
    elif action in ("accept", "decline"):
        rule = _rule(record, rule_id, incoming=True)
        services.answer(rule=rule, accept=action == "accept", actor=request.user)
        if action == "accept":
            tasks.replicate_now(rule)
        messages.success(request, f"Replication from {rule.namespace.name} {action}ed.")
    else:
        raise Http404("No such action")
    return redirect("namespace-replication", namespace=record.name)
