"""REST API for concerns, votes, receipts and moderation: thin views over the same
services and selectors as the pages."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.models import Department, Organisation, User
from concerns import selectors, services, throttles
from concerns.errors import ConcernNotFound, WrongAccessPhrase
from concerns.models import Concern, Status, Tag
from config.api import IsModerator


class TagOut(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.CharField()


class ConcernOut(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    status = serializers.CharField()
    anonymous = serializers.BooleanField(source="is_anonymous")
    vote_count = serializers.IntegerField()
    published_at = serializers.DateTimeField(allow_null=True)
    response_due_on = serializers.DateField(allow_null=True)
    overdue = serializers.BooleanField(source="is_overdue")
    department = serializers.SerializerMethodField()
    tags = TagOut(many=True, source="tags.all")
    viewer_has_voted = serializers.BooleanField(default=False)
    url = serializers.SerializerMethodField()

    def get_department(self, concern) -> str | None:
        shown = getattr(concern, "shown_department", None)
        return shown.name if shown else None

    def get_url(self, concern) -> str:
        return concern.get_absolute_url()


class EventOut(serializers.Serializer):
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    on = serializers.DateField(source="occurred_on")
    at = serializers.DateTimeField(source="occurred_at", allow_null=True)
    by = serializers.SerializerMethodField()
    note = serializers.CharField()

    def get_by(self, event) -> str | None:
        return event.actor.display_name if event.actor else None


class MessageOut(serializers.Serializer):
    from_submitter = serializers.BooleanField()
    by = serializers.SerializerMethodField()
    body_html = serializers.CharField()
    on = serializers.DateField(source="sent_on")
    at = serializers.DateTimeField(source="sent_at", allow_null=True)

    def get_by(self, message) -> str | None:
        if message.from_submitter:
            return None
        return message.staff_author.display_name if message.staff_author else None


class ConcernDetailOut(ConcernOut):
    body = serializers.CharField()
    body_html = serializers.CharField()
    author = serializers.SerializerMethodField()
    rejection_reason = serializers.CharField()
    merged_into = serializers.UUIDField(source="merged_into_id", allow_null=True)
    accountable_leader = serializers.SerializerMethodField()

    def get_author(self, concern) -> str | None:
        if concern.is_anonymous or concern.author is None:
            return None
        return concern.author.display_name

    def get_accountable_leader(self, concern) -> str | None:
        leader = concern.accountable_leader
        return leader.display_name if leader else None


def _detail_body(detail: selectors.ConcernDetail) -> dict:
    body = ConcernDetailOut(detail.concern).data
    body["viewer_has_voted"] = detail.has_voted
    body["history"] = EventOut(detail.events, many=True).data
    body["merged_from"] = [str(c.pk) for c in detail.merged_from]
    if detail.can_see_conversation:
        body["conversation"] = MessageOut(detail.messages, many=True).data
    return body


class ConcernListIn(serializers.Serializer):
    sort = serializers.ChoiceField(choices=list(selectors.SORTS), required=False)
    status = serializers.ChoiceField(
        choices=[s.value for s in Status if s.value in selectors.LISTED_STATUSES], required=False
    )
    tag = serializers.SlugField(required=False)
    q = serializers.CharField(required=False, max_length=200, allow_blank=True)
    cursor = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Where a page starts: take it from the `next` or `previous` link.",
    )


class ConcernIn(serializers.Serializer):
    title = serializers.CharField(max_length=services.TITLE_MAX)
    body = serializers.CharField(max_length=services.BODY_MAX)
    anonymous = serializers.BooleanField(default=False)
    tags = serializers.SlugRelatedField(
        slug_field="slug", queryset=Tag.objects.all(), many=True, required=False
    )
    department = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.all(), required=False, allow_null=True
    )


# Unbound copies of ConcernOut's date fields, for ConcernRowOut: `self.fields` would
# deep-copy every field of the serializer for each page.
_PUBLISHED_AT = serializers.DateTimeField()
_RESPONSE_DUE_ON = serializers.DateField()


class ConcernRowOut(ConcernOut):
    """A row of the list: its tags come with the row (selectors.concern_list).

    The declared fields describe a row (and the schema); `to_representation` writes
    the same dict directly, because DRF's generic walk over the fields cost more than
    reading the page's rows (bench/README.md, problem 18). A test holds the two to the
    same output (tests/api/test_concerns_api.py)."""

    tags = TagOut(many=True, source="tag_list")

    def to_representation(self, concern):
        published, due = concern.published_at, concern.response_due_on
        return {
            "id": str(concern.pk),
            "title": concern.title,
            "status": concern.status,
            "anonymous": concern.is_anonymous,
            "vote_count": concern.vote_count,
            "published_at": (
                None if published is None else _PUBLISHED_AT.to_representation(published)
            ),
            "response_due_on": (None if due is None else _RESPONSE_DUE_ON.to_representation(due)),
            "overdue": concern.is_overdue,
            "department": self.get_department(concern),
            "tags": [{"name": tag.name, "slug": tag.slug} for tag in concern.tag_list],
            "viewer_has_voted": getattr(concern, "viewer_has_voted", False),
            "url": concern.get_absolute_url(),
        }


def _cursor_link(url: str, cursor: str | None) -> str | None:
    return replace_query_param(url, "cursor", cursor) if cursor else None


class ConcernListApi(APIView):
    """List with the site's filters, search and sort (cursor pagination); create."""

    def get_throttles(self):
        # Creating an anonymous concern must not be counted under the person's id.
        self.throttle_anonymously = self.request.method == "POST"
        return super().get_throttles()

    @extend_schema(
        operation_id="v1_concerns_list",
        parameters=[ConcernListIn],
        responses=inline_serializer(
            "ConcernPage",
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": ConcernOut(many=True),
            },
        ),
    )
    def get(self, request):
        params = ConcernListIn(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        filters = selectors.ConcernFilters(
            sort=data.get("sort") or ("relevant" if data.get("q") else "top"),
            status=data.get("status", ""),
            tag=data.get("tag", ""),
            q=data.get("q", ""),
            cursor=data.get("cursor", ""),
        )
        # A damaged cursor is ConcernNotFound: a 404 problem.
        page = selectors.concern_list(viewer=request.user, filters=filters)
        here = request.build_absolute_uri()
        return Response(
            {
                "next": _cursor_link(here, page.next_cursor),
                "previous": _cursor_link(here, page.previous_cursor),
                "results": ConcernRowOut(page.object_list, many=True).data,
            }
        )

    @extend_schema(
        request=ConcernIn,
        responses={
            201: inline_serializer(
                "Submitted",
                {"concern": ConcernOut(), "receipt": serializers.CharField(allow_null=True)},
            )
        },
    )
    def post(self, request):
        incoming = ConcernIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        throttles.submission_limit(request)
        submission = services.concern_submit(
            author=request.user,
            anonymous=data["anonymous"],
            title=data["title"],
            body=data["body"],
            tags=data.get("tags", []),
            department=data.get("department"),
        )
        return _submitted(submission)


class ConcernDetailApi(APIView):
    @extend_schema(responses=ConcernDetailOut)
    def get(self, request, concern_id):
        try:
            detail = selectors.concern_detail(viewer=request.user, concern_id=concern_id)
        except ConcernNotFound as error:
            raise Http404(str(error)) from error
        return Response(_detail_body(detail))


def _concern(concern_id) -> Concern:
    concern = Concern.objects.filter(pk=concern_id).first()
    if concern is None:
        raise Http404("No such concern.")
    return concern


def _submitted(submission: services.Submission) -> Response:
    """The answer to a new concern: an anonymous one carries its receipt, once, and
    nothing may keep a copy of it."""
    body = {"concern": ConcernOut(submission.concern).data, "receipt": submission.receipt}
    response = Response(body, status=status.HTTP_201_CREATED)
    response["Cache-Control"] = "no-store"
    return response


class VoteOut(serializers.Serializer):
    changed = serializers.BooleanField()
    vote_count = serializers.IntegerField()
    viewer_has_voted = serializers.BooleanField()


class VoteApi(APIView):
    """Cast (POST) or retract (DELETE) the caller's vote. Both are idempotent."""

    throttle_anonymously = True

    def rate_limits(self, request) -> list[throttles.Window]:
        """Counted with the API's own limit, in one round trip (config/api.py). A vote
        refused by the API's limit still counts as an attempt to vote."""
        if request.method not in ("POST", "DELETE"):
            return []
        return [throttles.vote_window(request)]

    def _vote(self, request, concern_id, *, cast: bool) -> Response:
        support = services.vote_change(concern_id=concern_id, voter=request.user, cast=cast)
        return Response(
            {"changed": support.changed, "vote_count": support.vote_count, "viewer_has_voted": cast}
        )

    @extend_schema(request=None, responses=VoteOut)
    def post(self, request, concern_id):
        return self._vote(request, concern_id, cast=True)

    @extend_schema(request=None, responses={200: VoteOut})
    def delete(self, request, concern_id):
        return self._vote(request, concern_id, cast=False)


class ModerationIn(serializers.Serializer):
    action = serializers.ChoiceField(choices=list(services.MODERATION_ACTIONS))
    reason = serializers.CharField(required=False, max_length=services.MESSAGE_MAX)
    into = serializers.UUIDField(required=False)
    leader = serializers.IntegerField(required=False)


class ModerationApi(APIView):
    permission_classes = [IsAuthenticated, IsModerator]

    @extend_schema(request=ModerationIn, responses=ConcernOut)
    def post(self, request, concern_id):
        incoming = ModerationIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        concern = _concern(concern_id)
        fields = {}
        if data["action"] == "merge":
            fields["into"] = Concern.objects.filter(pk=data.get("into")).first()
            if fields["into"] is None:
                raise serializers.ValidationError(
                    {"into": ["Give the open concern to merge into."]}
                )
        elif data["action"] == "assign":
            fields["leader"] = User.objects.filter(pk=data.get("leader")).first()
            if fields["leader"] is None:
                raise serializers.ValidationError({"leader": ["Give an active leader's id."]})
        elif data["action"] == "reject":
            fields["reason"] = data.get("reason", "")
        services.concern_moderate(
            concern=concern, moderator=request.user, action=data["action"], **fields
        )
        concern.refresh_from_db()
        return Response(ConcernOut(concern).data)


class ModerationQueueApi(APIView):
    permission_classes = [IsAuthenticated, IsModerator]

    @extend_schema(responses=ConcernOut(many=True))
    def get(self, request):
        return Response(ConcernOut(selectors.moderation_queue(), many=True).data)


class MessageIn(serializers.Serializer):
    body = serializers.CharField(max_length=services.MESSAGE_MAX)


class ConcernMessageApi(APIView):
    """Staff ask the submitter a question; a named author answers."""

    @extend_schema(request=MessageIn, responses={201: MessageOut})
    def post(self, request, concern_id):
        incoming = MessageIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        concern = _concern(concern_id)
        message = services.message_send(
            concern=concern, author=request.user, body=incoming.validated_data["body"]
        )
        return Response(MessageOut(message).data, status=status.HTTP_201_CREATED)


# Receipts: the receipt travels only in POST bodies, and these endpoints need no sign-in.


class ReceiptIn(serializers.Serializer):
    receipt = serializers.CharField(max_length=80)


class ReceiptReplyIn(ReceiptIn):
    body = serializers.CharField(max_length=services.MESSAGE_MAX)


class ReceiptApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_anonymously = True
    action = "status"

    @extend_schema(request=ReceiptIn, responses=ConcernDetailOut)
    def post(self, request):
        throttles.receipt_lookup_limit(request)
        incoming = (ReceiptReplyIn if self.action == "reply" else ReceiptIn)(data=request.data)
        incoming.is_valid(raise_exception=True)
        receipt = incoming.validated_data["receipt"]
        if self.action == "reply":
            services.message_reply_by_receipt(receipt=receipt, body=incoming.validated_data["body"])
        elif self.action == "withdraw":
            services.concern_withdraw_by_receipt(receipt=receipt)
        concern = services.receipt_concern(receipt=receipt)
        response = Response(_detail_body(selectors.receipt_detail(concern=concern)))
        response["Cache-Control"] = "no-store"
        return response


class TagListApi(APIView):
    @extend_schema(responses=TagOut(many=True))
    def get(self, request):
        return Response(TagOut(selectors.tags_all(), many=True).data)


# A named author's own concerns -----------------------------------------------------


class ConcernWithdrawApi(APIView):
    """The person who raised a named concern withdraws it. Anonymous submitters
    withdraw with their receipt instead (receipts/withdraw/)."""

    @extend_schema(request=None, responses=ConcernOut)
    def post(self, request, concern_id):
        concern = services.concern_withdraw(concern=_concern(concern_id), author=request.user)
        return Response(ConcernOut(concern).data)


class MyConcernOut(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    status = serializers.CharField()
    submitted_on = serializers.DateField()
    vote_count = serializers.IntegerField()
    rejection_reason = serializers.CharField()
    url = serializers.CharField(source="get_absolute_url")


class MyConcernListApi(APIView):
    """The concerns the caller raised by name. Anonymous ones are not listed: nothing
    links them to anyone."""

    @extend_schema(responses=MyConcernOut(many=True))
    def get(self, request):
        concerns = selectors.concerns_by_author(author=request.user)
        return Response(MyConcernOut(concerns, many=True).data)


class SimilarIn(serializers.Serializer):
    text = serializers.CharField(max_length=400, allow_blank=True)


class SimilarOut(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    status = serializers.CharField()
    vote_count = serializers.IntegerField()
    url = serializers.CharField(source="get_absolute_url")


class ConcernSimilarApi(APIView):
    """Open concerns like a text being written, so it can be supported instead of
    raised twice. A POST, so a half-written concern never lands in a URL."""

    @extend_schema(request=SimilarIn, responses=SimilarOut(many=True))
    def post(self, request):
        incoming = SimilarIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        similar = selectors.concern_similar(text=incoming.validated_data["text"])
        return Response(SimilarOut(similar, many=True).data)


class PublicConcernIn(serializers.Serializer):
    access_phrase = serializers.CharField(
        max_length=200, help_text="The phrase the organisation shared with all staff."
    )
    title = serializers.CharField(max_length=services.TITLE_MAX)
    body = serializers.CharField(max_length=services.BODY_MAX)
    tags = serializers.SlugRelatedField(
        slug_field="slug", queryset=Tag.objects.all(), many=True, required=False
    )
    department = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.all(), required=False, allow_null=True
    )


class PublicConcernApi(APIView):
    """The anonymous form that needs no account, where the organisation opened it:
    no credential is read (a token sent along is ignored), and the answer carries the
    receipt once."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_anonymously = True

    @extend_schema(
        request=PublicConcernIn,
        responses={
            201: inline_serializer(
                "SubmittedAnonymously",
                {"concern": ConcernOut(), "receipt": serializers.CharField()},
            )
        },
    )
    def post(self, request):
        organisation = Organisation.current()
        if not organisation.public_form_enabled:
            raise Http404("The anonymous form without sign-in is not enabled.")
        incoming = PublicConcernIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        throttles.public_submission_limit(request)
        try:
            submission = services.concern_submit_public(
                organisation=organisation,
                access_phrase=data["access_phrase"],
                title=data["title"],
                body=data["body"],
                tags=data.get("tags", []),
                department=data.get("department"),
            )
        except WrongAccessPhrase as error:
            raise serializers.ValidationError({"access_phrase": [str(error)]}) from error
        return _submitted(submission)
