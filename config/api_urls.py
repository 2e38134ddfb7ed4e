"""Version 1 of the REST API. Every view lives in its app's apis.py."""

from django.urls import path

from concerns import apis as concerns
from ledger import apis as ledger
from meetings import apis as meetings
from notifications import apis as me
from responses import apis as responses

urlpatterns = [
    path("concerns/", concerns.ConcernListApi.as_view(), name="concerns"),
    path("concerns/<uuid:concern_id>/", concerns.ConcernDetailApi.as_view(), name="concern"),
    path("concerns/<uuid:concern_id>/vote/", concerns.VoteApi.as_view(), name="vote"),
    path(
        "concerns/<uuid:concern_id>/moderation/",
        concerns.ModerationApi.as_view(),
        name="moderation",
    ),
    path(
        "concerns/<uuid:concern_id>/messages/",
        concerns.ConcernMessageApi.as_view(),
        name="messages",
    ),
    path("concerns/<uuid:concern_id>/response/", responses.ResponseApi.as_view(), name="response"),
    path("concerns/<uuid:concern_id>/response/draft/", responses.DraftApi.as_view(), name="draft"),
    path(
        "concerns/<uuid:concern_id>/commitments/",
        responses.CommitmentListApi.as_view(),
        name="commitments",
    ),
    path("concerns/<uuid:concern_id>/rating/", responses.RatingApi.as_view(), name="rating"),
    path(
        "commitments/<int:commitment_id>/updates/",
        responses.CommitmentUpdateApi.as_view(),
        name="commitment-updates",
    ),
    path("moderation/queue/", concerns.ModerationQueueApi.as_view(), name="moderation-queue"),
    path("receipts/status/", concerns.ReceiptApi.as_view(action="status"), name="receipt"),
    path("receipts/reply/", concerns.ReceiptApi.as_view(action="reply"), name="receipt-reply"),
    path(
        "receipts/withdraw/",
        concerns.ReceiptApi.as_view(action="withdraw"),
        name="receipt-withdraw",
    ),
    path("tags/", concerns.TagListApi.as_view(), name="tags"),
    path("meetings/", meetings.MeetingListApi.as_view(), name="meetings"),
    path("meetings/<int:meeting_id>/", meetings.MeetingDetailApi.as_view(), name="meeting"),
    path("ledger/entries/", ledger.LedgerEntriesApi.as_view(), name="ledger-entries"),
    path("ledger/head/", ledger.LedgerHeadApi.as_view(), name="ledger-head"),
    path("ledger/verify/", ledger.LedgerVerifyApi.as_view(), name="ledger-verify"),
    path("me/", me.MeApi.as_view(), name="me"),
    path("me/preferences/", me.PreferenceApi.as_view(), name="preferences"),
    path("me/follows/", me.FollowListApi.as_view(), name="follows"),
    path("me/follows/<uuid:concern_id>/", me.FollowApi.as_view(), name="follow"),
    path("me/tokens/", me.TokenListApi.as_view(), name="tokens"),
    path("me/tokens/<int:token_id>/", me.TokenApi.as_view(), name="token"),
]
