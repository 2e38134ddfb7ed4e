"""REST API for meetings: the state live clients get, planning the agenda, running
the meeting, and live questions. Thin views over meetings.services, with the same
permissions as the pages: anyone signed in watches, asks and votes; moderators and
the meeting's hosts (the drivers) run it; agenda changes and approving a question
(it becomes a published concern) are for moderators only."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from concerns import throttles
from concerns.apis import ConcernOut
from concerns.errors import NotAllowed
from concerns.models import PUBLIC_STATUSES, Concern
from config.api import IsModerator
from meetings import selectors, services
from meetings.models import (
    AgendaItem,
    ItemSource,
    LiveQuestion,
    Meeting,
    MeetingStatus,
    QuestionStatus,
)

TIME_BOX_MAX = 240


class MeetingOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    scheduled_start = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=MeetingStatus.choices)
    url = serializers.CharField(source="get_absolute_url")


# The live state, as selectors.meeting_state builds it for the WebSocket clients.


class AgendaItemStateOut(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.CharField(allow_null=True, help_text="The concern's page, if it is one.")
    votes = serializers.IntegerField(allow_null=True)
    time_box = serializers.IntegerField(allow_null=True, help_text="Minutes.")
    discussed = serializers.BooleanField()
    answered_in_writing = serializers.BooleanField()


class QuestionStateOut(serializers.Serializer):
    id = serializers.UUIDField()
    text = serializers.CharField()
    votes = serializers.IntegerField()
    status = serializers.ChoiceField(choices=QuestionStatus.choices)
    highlighted = serializers.BooleanField()
    by = serializers.CharField(
        allow_null=True, help_text="The asker's name; always null for anonymous questions."
    )


class DebtOut(serializers.Serializer):
    answered = serializers.IntegerField()
    total = serializers.IntegerField()


class MeetingStateOut(serializers.Serializer):
    meeting = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="Numbers every change a live client can see.")
    status = serializers.ChoiceField(choices=MeetingStatus.choices)
    title = serializers.CharField()
    current = serializers.IntegerField(allow_null=True, help_text="The current agenda item.")
    items = AgendaItemStateOut(many=True)
    questions = QuestionStateOut(
        many=True, help_text="Drivers also see pending and set-aside questions."
    )
    debt = DebtOut(help_text="Discussed concerns, and how many are answered in writing.")
    at = serializers.DateTimeField()


class AgendaItemDetailOut(AgendaItemStateOut):
    source = serializers.ChoiceField(choices=ItemSource.choices)
    notes_html = serializers.CharField(
        allow_null=True, help_text="Shown to drivers, and to everyone once the meeting ended."
    )
    notes = serializers.CharField(allow_null=True, help_text="The Markdown; drivers only.")


class MeetingDetailOut(MeetingStateOut):
    scheduled_start = serializers.DateTimeField()
    items = AgendaItemDetailOut(many=True)
    can_drive = serializers.BooleanField(help_text="Whether the caller may run the meeting.")


def _meeting(meeting_id) -> Meeting:
    meeting = Meeting.objects.filter(pk=meeting_id).first()
    if meeting is None:
        raise Http404("No such meeting.")
    return meeting


def _driven(meeting_id, person) -> Meeting:
    """The meeting, if the person may run it; otherwise a 403, as on the console."""
    meeting = _meeting(meeting_id)
    if not services.can_drive(meeting, person):
        raise NotAllowed("Only moderators and the meeting's hosts can run it.")
    return meeting


def _state(meeting_id) -> dict:
    """The drivers' state: what the console shows after a change."""
    return MeetingStateOut(selectors.meeting_state(meeting_id=meeting_id, for_drivers=True)).data


def _item(meeting: Meeting, item_id) -> AgendaItem:
    item = AgendaItem.objects.filter(meeting=meeting, pk=item_id).first()
    if item is None:
        raise Http404("That item is not on this meeting's agenda.")
    return item


def _question(meeting: Meeting, question_id) -> LiveQuestion:
    question = LiveQuestion.objects.filter(meeting=meeting, pk=question_id).first()
    if question is None:
        raise Http404("That question is not part of this meeting.")
    return question


# Meetings --------------------------------------------------------------------------


class MeetingIn(serializers.Serializer):
    title = serializers.CharField(max_length=140)
    scheduled_start = serializers.DateTimeField()


class MeetingListApi(APIView):
    def get_permissions(self):
        if self.request.method == "POST":
            return [permission() for permission in (*self.permission_classes, IsModerator)]
        return super().get_permissions()

    @extend_schema(responses=MeetingOut(many=True))
    def get(self, request):
        lists = selectors.meeting_lists()
        meetings = lists["live"] + lists["upcoming"] + lists["past"]
        return Response(MeetingOut(meetings, many=True).data)

    @extend_schema(
        request=MeetingIn,
        responses={201: MeetingOut},
        description="Moderators plan a meeting; they become its host.",
    )
    def post(self, request):
        incoming = MeetingIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        meeting = services.meeting_create(
            organiser=request.user, hosts=[request.user], **incoming.validated_data
        )
        return Response(MeetingOut(meeting).data, status=status.HTTP_201_CREATED)


class MeetingDetailApi(APIView):
    """The meeting's agenda (with notes where the page shows them), questions and
    written-answer debt; drivers also see pending questions."""

    @extend_schema(responses={200: MeetingDetailOut})
    def get(self, request, meeting_id):
        meeting = _meeting(meeting_id)
        is_driver = services.can_drive(meeting, request.user)
        state = selectors.meeting_state(meeting_id=meeting.pk, for_drivers=is_driver)
        if state is None:
            raise Http404("No such meeting.")
        notes_shown = is_driver or state["status"] == MeetingStatus.ENDED
        extra = {
            pk: (source, notes, notes_html)
            for pk, source, notes, notes_html in AgendaItem.objects.filter(
                meeting_id=meeting.pk
            ).values_list("pk", "source", "notes", "notes_html")
        }
        for item in state["items"]:
            source, notes, notes_html = extra.get(item["id"], (ItemSource.MODERATOR, "", ""))
            item["source"] = source
            item["notes_html"] = notes_html if notes_shown else None
            item["notes"] = notes if is_driver else None
        state["scheduled_start"] = meeting.scheduled_start
        state["can_drive"] = is_driver
        return Response(MeetingDetailOut(state).data)


# Running the meeting (drivers) -------------------------------------------------------


class MeetingStartApi(APIView):
    @extend_schema(
        request=None,
        responses={200: MeetingStateOut},
        description="Starts a planned meeting at its first agenda item. Drivers only.",
    )
    def post(self, request, meeting_id):
        meeting = _driven(meeting_id, request.user)
        services.meeting_start(meeting=meeting, actor=request.user)
        return Response(_state(meeting.pk))


class AdvanceIn(serializers.Serializer):
    item = serializers.IntegerField(
        required=False, allow_null=True, help_text="An item to go to; the next one if left out."
    )


class MeetingAdvanceApi(APIView):
    @extend_schema(
        request=AdvanceIn,
        responses={200: MeetingStateOut},
        description="Moves a live meeting to the given agenda item, or to the next one.",
    )
    def post(self, request, meeting_id):
        meeting = _driven(meeting_id, request.user)
        incoming = AdvanceIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        item_id = incoming.validated_data.get("item")
        item = None
        if item_id is not None:
            item = AgendaItem.objects.filter(meeting=meeting, pk=item_id).first()
            if item is None:
                raise serializers.ValidationError(
                    {"item": ["Choose an item on this meeting's agenda."]}
                )
        services.meeting_advance(meeting=meeting, actor=request.user, item=item)
        return Response(_state(meeting.pk))


class MeetingEndApi(APIView):
    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "MeetingEnded",
                {
                    "owed_in_writing": serializers.IntegerField(
                        help_text="Discussed concerns that now owe a written response."
                    ),
                    "meeting": MeetingStateOut(),
                },
            ),
        },
        description="Ends a live meeting. Every discussed concern without a published "
        "response becomes due: a spoken answer is not an answer of record.",
    )
    def post(self, request, meeting_id):
        meeting = _driven(meeting_id, request.user)
        owed = services.meeting_end(meeting=meeting, actor=request.user)
        return Response({"owed_in_writing": owed, "meeting": _state(meeting.pk)})


# The agenda --------------------------------------------------------------------------


class AgendaProposeApi(APIView):
    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "AgendaProposed",
                {"added": serializers.IntegerField(), "meeting": MeetingStateOut()},
            ),
        },
        description="Adds the top concerns that still lack a written answer: past the "
        "agenda threshold, then overdue, then rated “not answered”. Moderators only.",
    )
    def post(self, request, meeting_id):
        meeting = _driven(meeting_id, request.user)
        added = services.agenda_propose(meeting=meeting, moderator=request.user)
        return Response({"added": added, "meeting": _state(meeting.pk)})


class AgendaItemIn(serializers.Serializer):
    concern = serializers.PrimaryKeyRelatedField(
        queryset=Concern.objects.filter(status__in=PUBLIC_STATUSES),
        pk_field=serializers.UUIDField(),
        required=False,
        allow_null=True,
        help_text="A public concern; or give a topic instead.",
    )
    topic = serializers.CharField(max_length=140, required=False, allow_blank=True)
    time_box_minutes = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=TIME_BOX_MAX
    )


class AgendaApi(APIView):
    @extend_schema(
        request=AgendaItemIn,
        responses={
            201: inline_serializer(
                "AgendaItemAdded",
                {"item": AgendaItemStateOut(), "meeting": MeetingStateOut()},
            ),
        },
        description="Adds a concern or a free topic at the end of the agenda. Moderators only.",
    )
    def post(self, request, meeting_id):
        meeting = _driven(meeting_id, request.user)
        incoming = AgendaItemIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        item = services.agenda_item_add(
            meeting=meeting,
            moderator=request.user,
            concern=data.get("concern"),
            topic=data.get("topic", ""),
            time_box_minutes=data.get("time_box_minutes"),
        )
        state = _state(meeting.pk)
        added = next(i for i in state["items"] if i["id"] == item.pk)
        return Response({"item": added, "meeting": state}, status=status.HTTP_201_CREATED)


class AgendaItemApi(APIView):
    @extend_schema(
        request=None,
        responses={204: None},
        description="Removes an item that was not discussed and is not the current one. "
        "Moderators only.",
    )
    def delete(self, request, meeting_id, item_id):
        meeting = _driven(meeting_id, request.user)
        services.agenda_item_remove(item=_item(meeting, item_id), moderator=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MoveIn(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["up", "down"])


class AgendaItemMoveApi(APIView):
    @extend_schema(
        request=MoveIn,
        responses={200: MeetingStateOut},
        description="Moves an item one place up or down. Moderators only.",
    )
    def post(self, request, meeting_id, item_id):
        meeting = _driven(meeting_id, request.user)
        item = _item(meeting, item_id)
        incoming = MoveIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.agenda_item_move(
            item=item, moderator=request.user, direction=incoming.validated_data["direction"]
        )
        return Response(_state(meeting.pk))


class NotesIn(serializers.Serializer):
    notes = serializers.CharField(
        max_length=services.NOTES_MAX, allow_blank=True, help_text="Markdown."
    )


class NotesOut(serializers.Serializer):
    id = serializers.IntegerField()
    notes = serializers.CharField()
    notes_html = serializers.CharField()


class AgendaItemNotesApi(APIView):
    @extend_schema(
        request=NotesIn,
        responses={200: NotesOut},
        description="Replaces the item's notes, published with the meeting. Drivers only.",
    )
    def put(self, request, meeting_id, item_id):
        meeting = _driven(meeting_id, request.user)
        item = _item(meeting, item_id)
        incoming = NotesIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        item = services.agenda_item_notes(
            item=item, author=request.user, notes=incoming.validated_data["notes"]
        )
        return Response(NotesOut(item).data)


class AgendaItemDiscussedApi(APIView):
    @extend_schema(
        request=None,
        responses={200: MeetingStateOut},
        description="Marks an item of a live meeting as discussed; it still needs a "
        "written response. Drivers only.",
    )
    def post(self, request, meeting_id, item_id):
        meeting = _driven(meeting_id, request.user)
        services.agenda_item_mark_discussed(item=_item(meeting, item_id), actor=request.user)
        return Response(_state(meeting.pk))


# Live questions ----------------------------------------------------------------------


class QuestionOut(serializers.Serializer):
    id = serializers.UUIDField()
    text = serializers.CharField()
    status = serializers.ChoiceField(choices=QuestionStatus.choices)
    anonymous = serializers.BooleanField(source="is_anonymous")
    votes = serializers.IntegerField(source="vote_count")
    highlighted = serializers.BooleanField()
    by = serializers.SerializerMethodField()
    concern = serializers.UUIDField(
        source="concern_id", allow_null=True, help_text="The concern it became when approved."
    )

    def get_by(self, question) -> str | None:
        if question.is_anonymous or question.author_id is None:
            return None
        return question.author.display_name


class QuestionIn(serializers.Serializer):
    text = serializers.CharField(max_length=services.QUESTION_MAX)
    anonymous = serializers.BooleanField(default=False)


class QuestionListApi(APIView):
    # An anonymous question must not be counted under the caller's token.
    throttle_anonymously = True

    @extend_schema(
        request=QuestionIn,
        responses={
            201: inline_serializer(
                "QuestionAsked",
                {
                    "question": QuestionOut(),
                    "receipt": serializers.CharField(
                        allow_null=True,
                        help_text="Anonymous questions only: shown this once, never again.",
                    ),
                },
            ),
        },
        description="Asks a question in a live meeting, named or anonymous. It waits "
        "for a moderator before the room sees it. Rate limited per person.",
    )
    def post(self, request, meeting_id):
        meeting = _meeting(meeting_id)
        incoming = QuestionIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        throttles.question_limit(request)
        question, receipt = services.question_ask(
            meeting=meeting,
            asker=request.user,
            text=incoming.validated_data["text"],
            anonymous=incoming.validated_data["anonymous"],
        )
        response = Response(
            {"question": QuestionOut(question).data, "receipt": receipt},
            status=status.HTTP_201_CREATED,
        )
        response["Cache-Control"] = "no-store"
        return response


def _reloaded(question: LiveQuestion) -> LiveQuestion:
    return LiveQuestion.objects.select_related("author").get(pk=question.pk)


class QuestionVoteApi(APIView):
    # Question votes are keyed hashes, like concern votes: not counted under a token.
    throttle_anonymously = True

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "QuestionVoted",
                {
                    "changed": serializers.BooleanField(
                        help_text="False if the caller had already voted; a vote counts once."
                    ),
                    "question": QuestionOut(),
                },
            ),
        },
        description="Supports an approved question of a live meeting. Idempotent.",
    )
    def post(self, request, meeting_id, question_id):
        question = _question(_meeting(meeting_id), question_id)
        changed = services.question_vote(question=question, voter=request.user)
        return Response({"changed": changed, "question": QuestionOut(_reloaded(question)).data})


class QuestionApproveApi(APIView):
    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "QuestionApproved", {"question": QuestionOut(), "concern": ConcernOut()}
            ),
        },
        description="Shows a pending question to the room; it also becomes an open "
        "concern, named or anonymous as it was asked. Moderators only.",
    )
    def post(self, request, meeting_id, question_id):
        question = _question(_driven(meeting_id, request.user), question_id)
        concern = services.question_approve(question=question, actor=request.user)
        return Response(
            {"question": QuestionOut(_reloaded(question)).data, "concern": ConcernOut(concern).data}
        )


class QuestionRejectApi(APIView):
    @extend_schema(
        request=None,
        responses={200: QuestionOut},
        description="Sets a pending question aside. Drivers only.",
    )
    def post(self, request, meeting_id, question_id):
        question = _question(_driven(meeting_id, request.user), question_id)
        services.question_reject(question=question, actor=request.user)
        return Response(QuestionOut(_reloaded(question)).data)


class QuestionHighlightApi(APIView):
    @extend_schema(
        request=None,
        responses={200: QuestionOut},
        description="Highlights an approved question (and no other), or removes its "
        "highlight. Drivers only.",
    )
    def post(self, request, meeting_id, question_id):
        question = _question(_driven(meeting_id, request.user), question_id)
        services.question_highlight(question=question, actor=request.user)
        return Response(QuestionOut(_reloaded(question)).data)
