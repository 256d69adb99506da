"""`/api/v1/replication-rules`: a publisher's replication rules, their status, "replicate
now", and the answer of the publisher a rule copies to.

A namespace's owners and admins manage its rules (registry.access.policy); the admins of a
target publisher see the rules toward them and accept or decline them. Changes take the
account itself (a session or the password): a token administers nothing, as everywhere.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.access import policy
from registry.models import Namespace, ReplicationRule
from registry.replication import services, tasks

from .views import account_itself, actor_of


class DestinationSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReplicationRule.Kind.choices)
    url = serializers.CharField(required=False)
    namespace = serializers.CharField(required=False)
    username = serializers.CharField(required=False)
    has_password = serializers.BooleanField(required=False)
    allow_private_networks = serializers.BooleanField(required=False)
    tag_parameter = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text="Does it set tags pushed with ?tag= (null: not tried yet)?",
    )
    publisher = serializers.CharField(required=False)
    accepted_at = serializers.DateTimeField(required=False, allow_null=True)
    declined_at = serializers.DateTimeField(required=False, allow_null=True)


class RuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    namespace = serializers.CharField()
    filter = serializers.CharField()
    destination = DestinationSerializer()
    replicate_deletes = serializers.BooleanField()
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    state = serializers.CharField(
        help_text="in sync, pending, failing, awaiting acceptance, declined or disabled"
    )
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    lag_seconds = serializers.FloatField(help_text="How long the oldest change has waited.")
    your_side = serializers.ChoiceField(choices=["source", "destination"])


def _longest(field: str) -> int:
    """The column's length: a longer value is a 400 here, not the database's error (500)."""
    return ReplicationRule._meta.get_field(field).max_length


class RuleCreateSerializer(serializers.Serializer):
    namespace = serializers.CharField(help_text="Your namespace (or organization) to copy from.")
    filter = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=_longest("filter"),
        help_text="Empty, a prefix, or a glob.",
    )
    url = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=_longest("url"),
        help_text="Another registry.",
    )
    destination_namespace = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=_longest("destination_namespace")
    )
    username = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=_longest("username")
    )
    password = serializers.CharField(
        required=False, allow_blank=True, default="", write_only=True, help_text="Or a token."
    )
    allow_private_networks = serializers.BooleanField(
        required=False, default=False, help_text="Site staff only."
    )
    publisher = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Or another publisher here."
    )
    replicate_deletes = serializers.BooleanField(required=False, default=False)


class RepositoryStatusSerializer(serializers.Serializer):
    repository = serializers.CharField()
    destination = serializers.CharField()
    state = serializers.CharField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    pending_since = serializers.DateTimeField(allow_null=True)
    lag_seconds = serializers.FloatField(allow_null=True)
    last_error = serializers.CharField()
    attempts = serializers.IntegerField()


class StatusSerializer(serializers.Serializer):
    state = serializers.CharField()
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    lag_seconds = serializers.FloatField()
    repositories = RepositoryStatusSerializer(many=True)


def rule_data(rule: ReplicationRule, user, status_: dict | None = None) -> dict:
    status_ = status_ or services.status_of(rule)
    if rule.kind == ReplicationRule.Kind.PUBLISHER:
        destination = {
            "kind": rule.kind,
            "publisher": rule.target.name,
            "accepted_at": rule.accepted_at,
            "declined_at": rule.declined_at,
        }
    else:
        destination = {
            "kind": rule.kind,
            "url": rule.url,
            "namespace": rule.destination_namespace,
            "username": rule.username,
            "has_password": bool(rule.password_sealed),
            "allow_private_networks": rule.allow_private_networks,
            "tag_parameter": rule.tag_parameter,
        }
    return {
        "id": rule.pk,
        "namespace": rule.namespace.name,
        "filter": rule.filter,
        "destination": destination,
        "replicate_deletes": rule.replicate_deletes,
        "enabled": rule.enabled,
        "created_at": rule.created_at,
        "state": status_["state"],
        "last_run_at": rule.last_run_at,
        "last_success_at": rule.last_success_at,
        "last_error": rule.last_error,
        "lag_seconds": status_["lag_seconds"],
        "your_side": "source" if services.may_manage(user, rule) else "destination",
    }


def _signed_in(request) -> None:
    if not request.user.is_authenticated:
        raise exceptions.NotAuthenticated()


def _rule(request, rule_id: int) -> ReplicationRule:
    """The rule, if the caller manages it or is its target's admin (404 otherwise)."""
    _signed_in(request)
    rule = services.rules_for(request.user).filter(pk=rule_id).first()
    if rule is None:
        raise exceptions.NotFound("No such replication rule.")
    return rule


def _managed(request, rule_id: int) -> ReplicationRule:
    rule = _rule(request, rule_id)
    if not services.may_manage(request.user, rule):
        raise exceptions.PermissionDenied("Only the source namespace's owners and admins may.")
    return rule


class RuleList(APIView):
    @extend_schema(responses=RuleSerializer(many=True), operation_id="replication_rules_list")
    def get(self, request):
        _signed_in(request)
        return Response(
            [rule_data(rule, request.user) for rule in services.rules_for(request.user)]
        )

    @extend_schema(
        request=RuleCreateSerializer,
        responses={201: RuleSerializer},
        operation_id="replication_rule_create",
    )
    def post(self, request):
        _signed_in(request)
        account_itself(request)
        values = RuleCreateSerializer(data=request.data)
        values.is_valid(raise_exception=True)
        fields = values.validated_data
        namespace = Namespace.objects.filter(name=fields["namespace"]).first()
        if namespace is None:
            raise exceptions.ValidationError({"namespace": ["No such namespace."]})
        if namespace.name not in policy.administered_namespaces(request.user) and not (
            policy.is_superuser(request.user)
        ):
            raise exceptions.PermissionDenied("Only the namespace's owners and admins may.")
        try:
            rule = services.create_rule(
                namespace=namespace,
                actor=request.user,
                filter=fields["filter"],
                url=fields["url"],
                destination_namespace=fields["destination_namespace"],
                username=fields["username"],
                password=fields["password"],
                allow_private_networks=fields["allow_private_networks"],
                target=fields["publisher"],
                replicate_deletes=fields["replicate_deletes"],
            )
        except ValidationError as error:
            raise exceptions.ValidationError(error.message_dict) from None
        return Response(rule_data(rule, request.user), status=status.HTTP_201_CREATED)


class RuleDetail(APIView):
    @extend_schema(responses=RuleSerializer, operation_id="replication_rule_read")
    def get(self, request, rule_id: int):
        return Response(rule_data(_rule(request, rule_id), request.user))

    @extend_schema(responses={204: None}, operation_id="replication_rule_delete")
    def delete(self, request, rule_id: int):
        rule = _managed(request, rule_id)
        account_itself(request)
        services.delete_rule(rule=rule, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleStatus(APIView):
    @extend_schema(responses=StatusSerializer, operation_id="replication_rule_status")
    def get(self, request, rule_id: int):
        return Response(services.status_of(_rule(request, rule_id), viewer=request.user))


class ReplicateNow(APIView):
    @extend_schema(
        request=inline_serializer(
            "ReplicateNow", {"repository": serializers.CharField(required=False)}
        ),
        responses={
            202: inline_serializer(
                "ReplicationQueued",
                {"queued": serializers.ListField(child=serializers.CharField())},
            )
        },
        operation_id="replication_rule_replicate",
    )
    def post(self, request, rule_id: int):
        rule = _managed(request, rule_id)
        if not rule.ready:
            raise exceptions.ValidationError(
                {"non_field_errors": ["The rule is disabled or waits for its publisher."]}
            )
        name = request.data.get("repository") if isinstance(request.data, dict) else None
        # Only a repository the rule selects: any other name made a state row for a repository
        # that is not there (and past 255 characters, PostgreSQL's error: a 500).
        if name and (not isinstance(name, str) or not services.selects(rule, name)):
            raise exceptions.ValidationError({"repository": ["Not a repository of this rule."]})
        queued = tasks.replicate_now(rule, name or None)
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class Answer(APIView):
    """The target publisher's admins accept or decline (or stop) a rule toward them."""

    accept = True

    @extend_schema(request=None, responses=RuleSerializer)
    def post(self, request, rule_id: int):
        rule = _rule(request, rule_id)
        account_itself(request)
        if not services.may_answer(request.user, rule):
            raise exceptions.PermissionDenied("Only the destination publisher's admins may.")
        services.answer(rule=rule, accept=self.accept, actor=request.user)
        if self.accept:
            tasks.replicate_now(rule)
        return Response(rule_data(rule, request.user))


class Accept(Answer):
    accept = True


class Decline(Answer):
    accept = False
