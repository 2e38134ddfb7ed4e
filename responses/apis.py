"""REST API for written responses, their versions, commitments and ratings."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from concerns.models import Concern
from config.api import IsLeader
from responses import selectors, services
from responses.models import SUMMARY_MAX, Commitment, CommitmentStatus, Position, RatingValue


class VersionOut(serializers.Serializer):
    number = serializers.IntegerField()
    position = serializers.CharField()
    summary = serializers.CharField()
    details = serializers.CharField()
    details_html = serializers.CharField()
    change_reason = serializers.CharField()
    signed_as = serializers.CharField()
    published_at = serializers.DateTimeField()
    content_hash = serializers.CharField()
    content_matches = serializers.BooleanField()
    ledger_sequence = serializers.IntegerField()


class UpdateOut(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    note = serializers.CharField()
    by = serializers.SerializerMethodField()
    at = serializers.DateTimeField(source="created_at")
    ledger_sequence = serializers.IntegerField()

    def get_by(self, update) -> str | None:
        return update.author.display_name if update.author else None


class CommitmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    description = serializers.CharField()
    owner = serializers.CharField(source="owner.display_name")
    due_on = serializers.DateField()
    status = serializers.CharField()
    late = serializers.BooleanField(source="is_late")
    updates = UpdateOut(many=True, source="updates.all")


class ResponseOut(serializers.Serializer):
    versions = serializers.SerializerMethodField()
    commitments = serializers.SerializerMethodField()
    ratings = serializers.DictField(child=serializers.IntegerField(), source="rating_counts")
    raters = serializers.IntegerField()
    viewer_rating = serializers.CharField(allow_null=True)

    def get_versions(self, view) -> list:
        return VersionOut([v.version for v in view.versions], many=True).data

    def get_commitments(self, view) -> list:
        return CommitmentOut(view.commitments, many=True).data


def _public(concern_id) -> Concern:
    concern = Concern.objects.filter(pk=concern_id).first()
    if concern is None or not concern.is_public:
        raise Http404("That concern does not exist or is not public.")
    return concern


def _response_body(concern: Concern, viewer) -> dict:
    return ResponseOut(selectors.response_view(concern=concern, viewer=viewer)).data


class ResponseApi(APIView):
    """The published versions of a concern's written response, with commitments and
    ratings. Drafts are never shown here."""

    @extend_schema(responses=ResponseOut)
    def get(self, request, concern_id):
        return Response(_response_body(_public(concern_id), request.user))


class DraftIn(serializers.Serializer):
    position = serializers.ChoiceField(choices=Position.values)
    summary = serializers.CharField(max_length=SUMMARY_MAX)
    details = serializers.CharField(max_length=services.DETAILS_MAX)
    publish = serializers.BooleanField(default=False)
    change_reason = serializers.CharField(
        max_length=services.REASON_MAX, required=False, allow_blank=True
    )


class DraftApi(APIView):
    """Leaders save the private draft and, with publish=true, publish it."""

    permission_classes = [IsAuthenticated, IsLeader]

    @extend_schema(request=DraftIn, responses={200: ResponseOut, 201: ResponseOut})
    def post(self, request, concern_id):
        incoming = DraftIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        concern = _public(concern_id)
        services.response_draft_save(
            concern=concern,
            leader=request.user,
            position=data["position"],
            summary=data["summary"],
            details=data["details"],
        )
        if data["publish"]:
            services.response_publish(
                concern=concern, leader=request.user, change_reason=data.get("change_reason", "")
            )
            return Response(_response_body(concern, request.user), status=status.HTTP_201_CREATED)
        return Response(_response_body(concern, request.user))


class CommitmentIn(serializers.Serializer):
    description = serializers.CharField(max_length=500)
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    due_on = serializers.DateField()


class CommitmentListApi(APIView):
    permission_classes = [IsAuthenticated, IsLeader]

    @extend_schema(request=CommitmentIn, responses={201: CommitmentOut})
    def post(self, request, concern_id):
        incoming = CommitmentIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        commitment = services.commitment_add(
            concern=_public(concern_id), leader=request.user, **incoming.validated_data
        )
        return Response(CommitmentOut(commitment).data, status=status.HTTP_201_CREATED)


class CommitmentUpdateIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=CommitmentStatus.values)
    note = serializers.CharField(max_length=services.REASON_MAX, required=False, allow_blank=True)


class CommitmentUpdateApi(APIView):
    @extend_schema(request=CommitmentUpdateIn, responses={201: UpdateOut})
    def post(self, request, commitment_id):
        incoming = CommitmentUpdateIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        commitment = Commitment.objects.filter(pk=commitment_id).first()
        if commitment is None:
            raise Http404("No such commitment.")
        update = services.commitment_update(
            commitment=commitment,
            author=request.user,
            to_status=incoming.validated_data["status"],
            note=incoming.validated_data.get("note", ""),
        )
        return Response(UpdateOut(update).data, status=status.HTTP_201_CREATED)


class RatingIn(serializers.Serializer):
    value = serializers.ChoiceField(choices=RatingValue.values)


class RatingApi(APIView):
    """Rates the latest version; stored without the person, like a vote."""

    throttle_anonymously = True

    @extend_schema(request=RatingIn, responses=ResponseOut)
    def post(self, request, concern_id):
        incoming = RatingIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        concern = _public(concern_id)
        services.rating_cast(
            concern=concern, rater=request.user, value=incoming.validated_data["value"]
        )
        return Response(_response_body(concern, request.user))


class DraftOut(serializers.Serializer):
    position = serializers.CharField(source="draft_position")
    summary = serializers.CharField(source="draft_summary")
    details = serializers.CharField(source="draft_details")
    updated_at = serializers.DateTimeField(source="draft_updated_at", allow_null=True)


class DraftReadApi(APIView):
    """A leader reads the private draft saved for a concern (empty when none)."""

    permission_classes = [IsAuthenticated, IsLeader]

    @extend_schema(operation_id="v1_concerns_response_draft_read", responses=DraftOut)
    def get(self, request, concern_id):
        concern = _public(concern_id)
        draft = selectors.response_draft(concern=concern)
        return Response(DraftOut(draft).data)


class OverdueOut(serializers.Serializer):
    id = serializers.UUIDField(source="pk")
    title = serializers.CharField()
    vote_count = serializers.IntegerField()
    response_due_on = serializers.DateField()
    days_overdue = serializers.IntegerField()
    accountable_leader = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url")

    def get_accountable_leader(self, concern) -> str | None:
        leader = concern.accountable_leader
        return leader.display_name if leader else None


class OverdueApi(APIView):
    """Concerns past their response deadline, longest overdue first (the overdue page)."""

    @extend_schema(responses=OverdueOut(many=True))
    def get(self, request):
        return Response(OverdueOut(selectors.overdue_list(), many=True).data)


class LeaderOut(serializers.Serializer):
    leader = serializers.CharField(source="leader.display_name")
    assigned = serializers.IntegerField()
    answered = serializers.IntegerField()
    answered_on_time = serializers.IntegerField()
    response_rate = serializers.IntegerField(allow_null=True)
    median_days_to_respond = serializers.FloatField(allow_null=True)
    overdue_now = serializers.IntegerField()
    commitments_kept = serializers.IntegerField()
    commitments_missed = serializers.IntegerField()
    commitments_open = serializers.IntegerField()
    ratings = serializers.DictField(child=serializers.IntegerField())


class MonthOut(serializers.Serializer):
    month = serializers.CharField()
    became_due = serializers.IntegerField()
    answered = serializers.IntegerField()
    deadlines_missed = serializers.IntegerField()


class GroupOut(serializers.Serializer):
    label = serializers.CharField()
    people = serializers.IntegerField()
    figures = serializers.DictField(child=serializers.IntegerField())


class BreakdownOut(serializers.Serializer):
    shown = GroupOut(many=True)
    hidden = serializers.IntegerField(help_text="How many groups are hidden; nothing else.")
    min_group_size = serializers.IntegerField()


class DashboardOut(serializers.Serializer):
    leaders = LeaderOut(many=True)
    months = MonthOut(many=True)
    departments = BreakdownOut()
    tags = BreakdownOut()


class DashboardApi(APIView):
    """The accountability dashboard's figures, with the same small-group suppression
    as the page (one selector for both)."""

    @extend_schema(responses=DashboardOut)
    def get(self, request):
        return Response(DashboardOut(selectors.accountability_dashboard()).data)
