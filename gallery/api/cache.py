"""`/api/v1/cache-rules`: the pull-through cache's rules, for site staff only.

A rule maps a namespace prefix in Berth to an upstream registry (registry.cache). The
password is write-only: stored encrypted, never answered.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.cache import services as cache
from registry.models import CacheRule

from .views import account_itself, actor_of


class CacheRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    prefix = serializers.CharField(
        max_length=200, help_text="The namespace prefix in Berth, e.g. hub (for hub/…)."
    )
    upstream = serializers.CharField(
        max_length=2048, help_text="The upstream registry, e.g. https://registry-1.docker.io"
    )
    namespace = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=CacheRule._meta.get_field("namespace").max_length,
        help_text="Put in front of names upstream: with library, hub/alpine is library/alpine.",
    )
    # As long as the columns: longer was the database's error (a 500 on PostgreSQL).
    username = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=CacheRule._meta.get_field("username").max_length,
    )
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        write_only=True,
        help_text="Stored encrypted, sent to the upstream and its token realm only.",
    )
    allow_private_networks = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Let the rule reach loopback, link-local and private addresses.",
    )
    has_password = serializers.BooleanField(read_only=True)
    repositories = serializers.IntegerField(read_only=True, help_text="Cached repositories.")
    created_at = serializers.DateTimeField(read_only=True)


def _data(rule: CacheRule) -> dict:
    return {
        "id": rule.pk,
        "prefix": rule.prefix,
        "upstream": rule.upstream,
        "namespace": rule.namespace,
        "username": rule.username,
        "allow_private_networks": rule.allow_private_networks,
        "has_password": bool(rule.password_sealed),
        "repositories": rule.repositories.count(),
        "created_at": rule.created_at,
    }


def _staff_only(request) -> None:
    if not request.user.is_authenticated:
        raise exceptions.NotAuthenticated()
    if not (request.user.is_active and request.user.is_staff):
        raise exceptions.PermissionDenied("Only site staff manage cache rules.")


def _rule(rule_id: int) -> CacheRule:
    rule = CacheRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise exceptions.NotFound("No such cache rule.")
    return rule


class CacheRuleList(APIView):
    @extend_schema(responses=CacheRuleSerializer(many=True), operation_id="cache_rules_list")
    def get(self, request):
        _staff_only(request)
        return Response([_data(rule) for rule in CacheRule.objects.all()])

    @extend_schema(
        request=CacheRuleSerializer,
        responses={201: CacheRuleSerializer},
        operation_id="cache_rule_create",
    )
    def post(self, request):
        _staff_only(request)
        account_itself(request)
        values = CacheRuleSerializer(data=request.data)
        values.is_valid(raise_exception=True)
        fields = values.validated_data
        try:
            rule = cache.create_rule(
                prefix=fields["prefix"],
                upstream_url=fields["upstream"],
                namespace=fields["namespace"],
                username=fields["username"],
                password=fields["password"],
                allow_private_networks=fields["allow_private_networks"],
                actor=actor_of(request),
            )
        except ValidationError as error:
            raise exceptions.ValidationError(error.message_dict) from None
        return Response(_data(rule), status=status.HTTP_201_CREATED)


class CacheRuleDetail(APIView):
    @extend_schema(responses=CacheRuleSerializer, operation_id="cache_rule_read")
    def get(self, request, rule_id: int):
        _staff_only(request)
        return Response(_data(_rule(rule_id)))

    @extend_schema(responses={204: None}, operation_id="cache_rule_delete")
    def delete(self, request, rule_id: int):
        _staff_only(request)
        account_itself(request)
        cache.delete_rule(rule=_rule(rule_id), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
