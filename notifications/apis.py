"""REST API for the caller's own profile, preferences, follows and API tokens."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services as account_services
from concerns.models import Concern
from notifications import selectors, services
from notifications.models import Frequency


class ProfileOut(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField(source="display_name")
    email = serializers.EmailField()
    role = serializers.CharField()
    department = serializers.CharField(source="department.name", default=None, allow_null=True)


class PreferenceIO(serializers.Serializer):
    digest = serializers.ChoiceField(choices=Frequency.values)


class MeApi(APIView):
    @extend_schema(responses=ProfileOut)
    def get(self, request):
        return Response(ProfileOut(request.user).data)


class PreferenceApi(APIView):
    @extend_schema(responses=PreferenceIO)
    def get(self, request):
        return Response({"digest": services.preference_for(request.user).digest})

    @extend_schema(request=PreferenceIO, responses=PreferenceIO)
    def put(self, request):
        incoming = PreferenceIO(data=request.data)
        incoming.is_valid(raise_exception=True)
        preference = services.preference_set(
            person=request.user, digest=incoming.validated_data["digest"]
        )
        return Response({"digest": preference.digest})


class FollowOut(serializers.Serializer):
    concern = serializers.UUIDField(source="concern_id")
    title = serializers.CharField(source="concern.title")


class FollowListApi(APIView):
    @extend_schema(responses=FollowOut(many=True))
    def get(self, request):
        return Response(FollowOut(selectors.follows_of(person=request.user), many=True).data)


class FollowApi(APIView):
    def _concern(self, concern_id) -> Concern:
        concern = Concern.objects.filter(pk=concern_id).first()
        if concern is None:
            raise Http404("No such concern.")
        return concern

    @extend_schema(request=None, responses={201: FollowOut, 200: FollowOut})
    def put(self, request, concern_id):
        concern = self._concern(concern_id)
        created = services.follow(person=request.user, concern=concern)
        body = {"concern": concern.pk, "title": concern.title}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, concern_id):
        services.unfollow(person=request.user, concern=self._concern(concern_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_on = serializers.DateField(allow_null=True)
    active = serializers.BooleanField(source="is_active")


class TokenIn(serializers.Serializer):
    name = serializers.CharField(max_length=80)


class TokenListApi(APIView):
    @extend_schema(responses=TokenOut(many=True))
    def get(self, request):
        return Response(TokenOut(request.user.api_tokens.all(), many=True).data)

    @extend_schema(
        request=TokenIn,
        responses={
            201: inline_serializer(
                "IssuedToken", {"token": TokenOut(), "secret": serializers.CharField()}
            )
        },
    )
    def post(self, request):
        incoming = TokenIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        issued = account_services.api_token_create(
            person=request.user, name=incoming.validated_data["name"]
        )
        response = Response(
            {"token": TokenOut(issued.token).data, "secret": issued.secret},
            status=status.HTTP_201_CREATED,
        )
        response["Cache-Control"] = "no-store"
        return response


class TokenApi(APIView):
    @extend_schema(request=None, responses={200: TokenOut})
    def delete(self, request, token_id):
        token = account_services.api_token_revoke(person=request.user, token_id=token_id)
        return Response(TokenOut(token).data)
