"""REST API for the ledger: entries, the head, and verification."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import SafeCursorPagination
from ledger import selectors
from ledger.models import LedgerEntry


class EntryOut(serializers.Serializer):
    sequence = serializers.IntegerField()
    kind = serializers.CharField()
    payload = serializers.CharField()
    previous_hash = serializers.CharField()
    entry_hash = serializers.CharField()
    recorded_on = serializers.DateField()


class HeadOut(serializers.Serializer):
    sequence = serializers.IntegerField()
    entry_hash = serializers.CharField()


class VerifyIn(serializers.Serializer):
    head = serializers.CharField(
        required=False, allow_blank=True, help_text="A head published earlier: SEQUENCE:HASH"
    )

    def validate_head(self, value):
        if not value:
            return None
        try:
            return selectors.Anchor.parse(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from error


class VerificationOut(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    head_sequence = serializers.IntegerField()
    head_hash = serializers.CharField()
    broken_sequence = serializers.IntegerField(allow_null=True)
    problem = serializers.CharField()


class EntryPagination(SafeCursorPagination):
    page_size = 100
    ordering = ("sequence",)


class LedgerEntriesApi(APIView):
    @extend_schema(
        operation_id="v1_ledger_entries_list",
        responses=inline_serializer(
            "LedgerEntryPage",
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": EntryOut(many=True),
            },
        ),
    )
    def get(self, request):
        paginator = EntryPagination()
        rows = paginator.paginate_queryset(LedgerEntry.objects.all(), request, view=self)
        return paginator.get_paginated_response(EntryOut(rows, many=True).data)


class LedgerHeadApi(APIView):
    @extend_schema(responses=HeadOut)
    def get(self, request):
        return Response(HeadOut(selectors.ledger_head()).data)


class LedgerVerifyApi(APIView):
    @extend_schema(request=VerifyIn, responses=VerificationOut)
    def post(self, request):
        incoming = VerifyIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        result = selectors.ledger_verify(anchor=incoming.validated_data.get("head"))
        return Response(VerificationOut(result).data)


class PublishedHeadOut(serializers.Serializer):
    sequence = serializers.IntegerField()
    entry_hash = serializers.CharField()
    published_at = serializers.DateTimeField()


class PublishedHeadsApi(APIView):
    """The heads published on a schedule, newest first: note one, and later prove
    with `ledger/verify/` that the ledger still extends it."""

    @extend_schema(responses=PublishedHeadOut(many=True))
    def get(self, request):
        return Response(PublishedHeadOut(selectors.published_heads(limit=50), many=True).data)
