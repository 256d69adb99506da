"""The API's access endpoints: organizations and members, access tokens, robots, repository
policies and the audit log. Decisions come from registry.access (policy, organizations,
sharing, credentials); these views parse, authorize and shape."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.access import audit, clients, credentials, organizations, policy, sharing
from registry.access.organizations import AccessError
from registry.models import AccessToken, AuditEvent, Robot, Role

from .views import account_itself, actor_of, visible_entry

EXPIRY_MAX_DAYS = 366


def _signed_in(request) -> None:
    if not request.user.is_authenticated:
        raise exceptions.NotAuthenticated()


def _refused(error: AccessError):
    return exceptions.ValidationError({"non_field_errors": [str(error)]})


# -- organizations ------------------------------------------------------------------------------


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)
    since = serializers.DateTimeField(source="created_at")


class OrganizationSerializer(serializers.Serializer):
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    your_role = serializers.CharField(allow_null=True)
    members = MemberSerializer(many=True, required=False, help_text="For members only.")


def _organization(name: str):
    found = organizations.organization(name)
    if found is None:
        raise exceptions.NotFound("No such organization.")
    return found


def _organization_data(request, organization) -> dict:
    role = policy.rights_of(request.user).roles.get(organization.name)
    data = {"name": organization.name, "created_at": organization.created_at, "your_role": role}
    if role is not None or policy.is_superuser(request.user):
        members = organization.memberships.select_related("user").order_by("user__username")
        data["members"] = MemberSerializer(members, many=True).data
    return data


def _require_admin(request, organization) -> None:
    """The caller administers `organization`; a change also takes the account itself."""
    _signed_in(request)
    if request.method not in permissions.SAFE_METHODS:
        account_itself(request)
    if organization.name not in policy.administered_namespaces(request.user) and not (
        policy.is_superuser(request.user)
    ):
        raise exceptions.PermissionDenied("Only the organization's owners and admins may.")


class OrganizationList(APIView):
    @extend_schema(
        request=inline_serializer("OrganizationCreate", {"name": serializers.CharField()}),
        responses={201: OrganizationSerializer},
        operation_id="organization_create",
    )
    def post(self, request):
        _signed_in(request)
        account_itself(request)  # a name reserved for good is the account's own decision
        name = request.data.get("name") if isinstance(request.data, dict) else None
        if not isinstance(name, str) or not name:
            raise exceptions.ValidationError({"name": ["This field is required."]})
        if Robot.objects.filter(user=request.user).exists():
            raise exceptions.PermissionDenied("Robots cannot create organizations.")
        try:
            organization = organizations.create_organization(
                name=name, owner=request.user, address=clients.client_address(request)
            )
        except AccessError as error:
            raise exceptions.ValidationError({"name": [str(error)]}) from None
        policy.forget(request.user)
        return Response(_organization_data(request, organization), status=status.HTTP_201_CREATED)


class OrganizationDetail(APIView):
    anonymous_reads = True

    @extend_schema(responses=OrganizationSerializer, operation_id="organization_read")
    def get(self, request, org: str):
        return Response(_organization_data(request, _organization(org)))

    @extend_schema(responses={204: None}, operation_id="organization_delete")
    def delete(self, request, org: str):
        organization = _organization(org)
        _signed_in(request)
        account_itself(request)
        rights = policy.rights_of(request.user)
        if rights.roles.get(org) != Role.OWNER and not rights.superuser:
            raise exceptions.PermissionDenied("Only owners may delete an organization.")
        organizations.delete_organization(
            organization=organization, actor=request.user, address=clients.client_address(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberDetail(APIView):
    @extend_schema(
        request=inline_serializer(
            "MemberRole", {"role": serializers.ChoiceField(choices=Role.choices)}
        ),
        responses=MemberSerializer,
        operation_id="member_put",
    )
    def put(self, request, org: str, username: str):
        organization = _organization(org)
        _require_admin(request, organization)
        role = request.data.get("role") if isinstance(request.data, dict) else None
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise exceptions.NotFound("No such user.")
        current = organization.memberships.filter(user=user).values_list("role", flat=True).first()
        mine = policy.rights_of(request.user).roles.get(org)
        if Role.OWNER in (role, current) and mine != Role.OWNER:
            raise exceptions.PermissionDenied("Only owners may make or unmake owners.")
        try:
            membership = organizations.set_member(
                organization=organization, user=user, role=role, actor=actor_of(request)
            )
        except AccessError as error:
            raise _refused(error) from None
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None}, operation_id="member_delete")
    def delete(self, request, org: str, username: str):
        organization = _organization(org)
        _signed_in(request)
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise exceptions.NotFound("No such member.")
        account_itself(request)
        if user.pk != request.user.pk:  # leaving needs no rights; removing others does
            _require_admin(request, organization)
            target = organization.memberships.filter(user=user).values_list("role", flat=True)
            if target.first() == Role.OWNER and (
                policy.rights_of(request.user).roles.get(org) != Role.OWNER
            ):
                raise exceptions.PermissionDenied("Only owners may remove owners.")
        try:
            organizations.remove_member(
                organization=organization, user=user, actor=actor_of(request)
            )
        except AccessError as error:
            raise _refused(error) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- access tokens ------------------------------------------------------------------------------


class TokenSerializer(serializers.ModelSerializer):
    expires = serializers.DateTimeField(source="expires_at", allow_null=True)
    last_used = serializers.DateTimeField(source="last_used_at", allow_null=True)
    revoked = serializers.DateTimeField(source="revoked_at", allow_null=True)

    class Meta:
        model = AccessToken
        fields = [
            "id",
            "name",
            "key_id",
            "scopes",
            "created_at",
            "expires",
            "last_used",
            "last_used_address",
            "revoked",
        ]


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.MultipleChoiceField(choices=sorted(credentials.SCOPES), allow_empty=False)
    expires = serializers.IntegerField(
        min_value=1,
        max_value=EXPIRY_MAX_DAYS,
        required=False,
        allow_null=True,
        help_text="Days until it expires; empty for never.",
    )


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.CharField(help_text="The secret: shown this once, never again.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


def _new_token(request, user, values) -> Response:
    days = values.get("expires")
    expires_at = timezone.now() + timedelta(days=days) if days else None
    token, secret = credentials.create_token(
        user=user,
        name=values["name"],
        scopes=sorted(values["scopes"]),
        expires_at=expires_at,
        actor=request.user,
        address=clients.client_address(request),
    )
    data = TokenSerializer(token).data
    data["token"] = secret
    return Response(data, status=status.HTTP_201_CREATED)


def _no_token_minting(request) -> None:
    _signed_in(request)
    if getattr(request.user, "berth_token", None) is not None:
        raise exceptions.PermissionDenied(
            "Tokens are made with the account's password or session, not with another token."
        )


class TokenList(APIView):
    @extend_schema(responses=TokenSerializer(many=True), operation_id="tokens_list")
    def get(self, request):
        _signed_in(request)
        return Response(TokenSerializer(request.user.access_tokens.all(), many=True).data)

    @extend_schema(
        request=TokenCreateSerializer,
        responses={201: TokenCreatedSerializer},
        operation_id="token_create",
    )
    def post(self, request):
        _no_token_minting(request)
        values = TokenCreateSerializer(data=request.data)
        values.is_valid(raise_exception=True)
        return _new_token(request, request.user, values.validated_data)


class TokenDetail(APIView):
    @extend_schema(responses={204: None}, operation_id="token_revoke")
    def delete(self, request, token_id: int):
        _signed_in(request)
        token = request.user.access_tokens.filter(pk=token_id).first()
        if token is None:
            raise exceptions.NotFound("No such token.")
        credentials.revoke(token=token, actor=request.user, address=clients.client_address(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- robots -------------------------------------------------------------------------------------


class RobotPermissionSerializer(serializers.Serializer):
    repository = serializers.CharField(
        allow_blank=True, help_text="A repository of the organization; empty for all."
    )
    actions = serializers.ListField(child=serializers.ChoiceField(choices=sorted(policy.ACTIONS)))


class RobotSerializer(serializers.Serializer):
    name = serializers.CharField()
    username = serializers.CharField(source="user.username")
    description = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    permissions = serializers.SerializerMethodField()
    tokens = serializers.SerializerMethodField()

    def get_permissions(self, robot) -> RobotPermissionSerializer(many=True):
        return [{"repository": p.repository, "actions": p.actions} for p in robot.permissions.all()]

    def get_tokens(self, robot) -> TokenSerializer(many=True):
        return TokenSerializer(robot.user.access_tokens.all(), many=True).data


class RobotPermissionsSerializer(serializers.Serializer):
    permissions = RobotPermissionSerializer(many=True)


class RobotCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=organizations.ROBOT_NAME_MAX)
    description = serializers.CharField(max_length=255, required=False, default="")
    permissions = RobotPermissionSerializer(many=True)


def _robot(organization, name: str) -> Robot:
    robot = organization.robots.filter(name=name).select_related("user", "namespace").first()
    if robot is None:
        raise exceptions.NotFound("No such robot.")
    return robot


class RobotList(APIView):
    @extend_schema(responses=RobotSerializer(many=True), operation_id="robots_list")
    def get(self, request, org: str):
        organization = _organization(org)
        _require_admin(request, organization)
        robots = organization.robots.select_related("user").prefetch_related("permissions")
        return Response(RobotSerializer(robots, many=True).data)

    @extend_schema(
        request=RobotCreateSerializer,
        responses={201: inline_serializer(
            "RobotCreated", {"robot": RobotSerializer(), "token": serializers.CharField()}
        )},
        operation_id="robot_create",
    )  # fmt: skip
    def post(self, request, org: str):
        organization = _organization(org)
        _require_admin(request, organization)
        _no_token_minting(request)
        values = RobotCreateSerializer(data=request.data)
        values.is_valid(raise_exception=True)
        try:
            robot, secret = organizations.create_robot(
                organization=organization,
                name=values.validated_data["name"],
                description=values.validated_data["description"],
                permissions=values.validated_data["permissions"],
                actor=request.user,
                address=clients.client_address(request),
            )
        except AccessError as error:
            raise _refused(error) from None
        return Response(
            {"robot": RobotSerializer(robot).data, "token": secret}, status=status.HTTP_201_CREATED
        )


class RobotDetail(APIView):
    @extend_schema(responses=RobotSerializer, operation_id="robot_read")
    def get(self, request, org: str, robot: str):
        organization = _organization(org)
        _require_admin(request, organization)
        return Response(RobotSerializer(_robot(organization, robot)).data)

    @extend_schema(
        request=RobotPermissionsSerializer,
        responses=RobotSerializer,
        operation_id="robot_update",
    )
    def put(self, request, org: str, robot: str):
        organization = _organization(org)
        _require_admin(request, organization)
        found = _robot(organization, robot)
        values = RobotPermissionsSerializer(data=request.data)
        values.is_valid(raise_exception=True)
        try:
            organizations.set_robot_permissions(
                robot=found,
                permissions=values.validated_data["permissions"],
                actor=actor_of(request),
            )
        except AccessError as error:
            raise _refused(error) from None
        return Response(RobotSerializer(found).data)

    @extend_schema(responses={204: None}, operation_id="robot_delete")
    def delete(self, request, org: str, robot: str):
        organization = _organization(org)
        _require_admin(request, organization)
        organizations.delete_robot(robot=_robot(organization, robot), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RobotTokens(APIView):
    @extend_schema(
        request=TokenCreateSerializer,
        responses={201: TokenCreatedSerializer},
        operation_id="robot_token_create",
    )
    def post(self, request, org: str, robot: str):
        organization = _organization(org)
        _require_admin(request, organization)
        _no_token_minting(request)
        found = _robot(organization, robot)
        values = TokenCreateSerializer(data=request.data)
        values.is_valid(raise_exception=True)
        return _new_token(request, found.user, values.validated_data)


class RobotTokenDetail(APIView):
    @extend_schema(responses={204: None}, operation_id="robot_token_revoke")
    def delete(self, request, org: str, robot: str, token_id: int):
        organization = _organization(org)
        _require_admin(request, organization)
        token = _robot(organization, robot).user.access_tokens.filter(pk=token_id).first()
        if token is None:
            raise exceptions.NotFound("No such token.")
        credentials.revoke(token=token, actor=request.user, address=clients.client_address(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- repository policy --------------------------------------------------------------------------


class GrantSerializer(serializers.Serializer):
    principal = serializers.CharField(
        help_text="A username, a robot (org+name) or an organization."
    )
    actions = serializers.ListField(child=serializers.ChoiceField(choices=["pull", "push"]))


class PolicySerializer(serializers.Serializer):
    grants = GrantSerializer(many=True)
    networks = serializers.ListField(
        child=serializers.CharField(max_length=64), help_text="CIDR ranges, IPv4 or IPv6."
    )


class RepositoryPolicy(APIView):
    def _repository(self, request, name: str):
        entry = visible_entry(request, name)
        if policy.ADMIN not in policy.permitted_actions(
            request.user, name, public=not entry.is_private
        ):
            if not request.user.is_authenticated:
                raise exceptions.NotAuthenticated()
            raise exceptions.PermissionDenied("Only the repository's admins may see its policy.")
        return entry.repository

    @extend_schema(responses=PolicySerializer, operation_id="policy_read")
    def get(self, request, name: str):
        return Response(sharing.policy_of(self._repository(request, name)))

    @extend_schema(request=PolicySerializer, responses=PolicySerializer, operation_id="policy_put")
    def put(self, request, name: str):
        repository = self._repository(request, name)
        values = PolicySerializer(data=request.data)
        values.is_valid(raise_exception=True)
        try:
            result = sharing.set_policy(
                repository=repository,
                grants=values.validated_data["grants"],
                networks=values.validated_data["networks"],
                actor=actor_of(request),
            )
        except AccessError as error:
            raise _refused(error) from None
        return Response(result)


# -- audit log ----------------------------------------------------------------------------------


class AuditSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["at", "actor", "address", "action", "namespace", "target", "detail"]


AUDIT_LIMIT = 1000
AUDIT_OFFSET_MAX = 1_000_000_000  # far past any log; past 2**63 the database's OFFSET overflows


def audit_events(user, params):
    """The events `user` may read (their namespaces' as admin; all for superusers),
    filtered by namespace, action, actor, since and until."""
    events = AuditEvent.objects.all()
    if not policy.is_superuser(user):
        events = events.filter(namespace__in=sorted(policy.administered_namespaces(user)))
    for key, lookup in (("namespace", "namespace"), ("action", "action"), ("actor", "actor")):
        if params.get(key):
            events = events.filter(**{lookup: params[key]})
    for key, lookup in (("since", "at__gte"), ("until", "at__lt")):
        if params.get(key):
            events = events.filter(**{lookup: params[key]})
    return events


class AuditQuerySerializer(serializers.Serializer):
    namespace = serializers.CharField(required=False)
    action = serializers.ChoiceField(choices=sorted(audit.ACTIONS), required=False)
    actor = serializers.CharField(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    format = serializers.ChoiceField(choices=["json", "csv"], required=False, default="json")
    limit = serializers.IntegerField(
        required=False, default=AUDIT_LIMIT, min_value=1, max_value=AUDIT_LIMIT
    )
    offset = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=AUDIT_OFFSET_MAX
    )


def _next_link(request, query: dict, pinned) -> str:
    """The next page's URL, with `until` pinned to the first page's time so that events
    recorded meanwhile do not shift the offsets (they wait for a new first page)."""
    params = request.query_params.copy()
    params["offset"] = str(query["offset"] + query["limit"])
    params["limit"] = str(query["limit"])
    params["until"] = pinned.isoformat()
    return f'<{request.build_absolute_uri(request.path)}?{params.urlencode()}>; rel="next"'


class AuditLog(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("namespace"),
            OpenApiParameter("action", enum=sorted(audit.ACTIONS)),
            OpenApiParameter("actor"),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="ISO 8601 time"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="ISO 8601 time"),
            OpenApiParameter("format", enum=["json", "csv"]),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": AUDIT_LIMIT},
                description=f"events per page, 1 to {AUDIT_LIMIT}",
            ),
            OpenApiParameter(
                "offset",
                {"type": "integer", "minimum": 0, "maximum": AUDIT_OFFSET_MAX},
                description='events to skip; a `Link: <…>; rel="next"` header names the next page',
            ),
        ],
        responses={
            (200, "application/json"): AuditSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
        },
        operation_id="audit_list",
    )
    def get(self, request):
        _signed_in(request)
        query = AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        pinned = params.get("until") or timezone.now()
        start = params["offset"]
        events = list(
            audit_events(request.user, {**params, "until": pinned})[
                start : start + params["limit"] + 1
            ]
        )
        more, events = len(events) > params["limit"], events[: params["limit"]]
        if params["format"] == "csv":
            response = csv_response(events)
        else:
            response = Response(AuditSerializer(events, many=True).data)
        if more:
            response["Link"] = _next_link(request, params, pinned)
        return response


def csv_response(events) -> HttpResponse:
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(["at", "actor", "address", "action", "namespace", "target", "detail"])
    for event in events:
        writer.writerow(
            [event.at.isoformat(), event.actor, event.address, event.action, event.namespace,
             _cell(event.target), _cell(json.dumps(event.detail) if event.detail else "")]
        )  # fmt: skip
    response = HttpResponse(output.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="berth-audit.csv"'
    return response


def _cell(text: str) -> str:
    """No formula injection when the file is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
