"""REST API for meetings and their agendas (read), the same state live clients get."""

from django.http import Http404
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from meetings import selectors, services
from meetings.models import Meeting


class MeetingOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    scheduled_start = serializers.DateTimeField()
    status = serializers.CharField()
    url = serializers.CharField(source="get_absolute_url")


class MeetingListApi(APIView):
    @extend_schema(responses=MeetingOut(many=True))
    def get(self, request):
        lists = selectors.meeting_lists()
        meetings = lists["live"] + lists["upcoming"] + lists["past"]
        return Response(MeetingOut(meetings, many=True).data)


class MeetingDetailApi(APIView):
    """The meeting's agenda, questions and written-answer debt; drivers also see
    pending questions."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, meeting_id):
        meeting = Meeting.objects.filter(pk=meeting_id).first()
        if meeting is None:
            raise Http404("No such meeting.")
        state = selectors.meeting_state(
            meeting_id=meeting.pk, for_drivers=services.can_drive(meeting, request.user)
        )
        return Response(state)
