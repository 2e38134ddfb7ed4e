"""Version 1 of the REST API. Every view lives in its app's apis.py."""

from django.urls import path

from concerns import apis as concerns
from ledger import apis as ledger
from meetings import apis as meetings
from notifications import apis as me
from responses import apis as responses

urlpatterns = [
    path("concerns/", concerns.ConcernListApi.as_view(), name="concerns"),
    path("concerns/anonymous/", concerns.PublicConcernApi.as_view(), name="concern-anonymous"),
    path("concerns/similar/", concerns.ConcernSimilarApi.as_view(), name="concerns-similar"),
    path("concerns/<uuid:concern_id>/", concerns.ConcernDetailApi.as_view(), name="concern"),
    path(
        "concerns/<uuid:concern_id>/withdraw/",
        concerns.ConcernWithdrawApi.as_view(),
        name="concern-withdraw",
    ),
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
        "concerns/<uuid:concern_id>/response/draft/saved/",
        responses.DraftReadApi.as_view(),
        name="draft-saved",
    ),
    path("overdue/", responses.OverdueApi.as_view(), name="overdue"),
    path("dashboard/", responses.DashboardApi.as_view(), name="dashboard"),
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
    path(
        "meetings/<int:meeting_id>/start/", meetings.MeetingStartApi.as_view(), name="meeting-start"
    ),
    path(
        "meetings/<int:meeting_id>/advance/",
        meetings.MeetingAdvanceApi.as_view(),
        name="meeting-advance",
    ),
    path("meetings/<int:meeting_id>/end/", meetings.MeetingEndApi.as_view(), name="meeting-end"),
    path("meetings/<int:meeting_id>/agenda/", meetings.AgendaApi.as_view(), name="agenda"),
    path(
        "meetings/<int:meeting_id>/agenda/propose/",
        meetings.AgendaProposeApi.as_view(),
        name="agenda-propose",
    ),
    path(
        "meetings/<int:meeting_id>/agenda/<int:item_id>/",
        meetings.AgendaItemApi.as_view(),
        name="agenda-item",
    ),
    path(
        "meetings/<int:meeting_id>/agenda/<int:item_id>/move/",
        meetings.AgendaItemMoveApi.as_view(),
        name="agenda-item-move",
    ),
    path(
        "meetings/<int:meeting_id>/agenda/<int:item_id>/notes/",
        meetings.AgendaItemNotesApi.as_view(),
        name="agenda-item-notes",
    ),
    path(
        "meetings/<int:meeting_id>/agenda/<int:item_id>/discussed/",
        meetings.AgendaItemDiscussedApi.as_view(),
        name="agenda-item-discussed",
    ),
    path(
        "meetings/<int:meeting_id>/questions/",
        meetings.QuestionListApi.as_view(),
        name="questions",
    ),
    path(
        "meetings/<int:meeting_id>/questions/<uuid:question_id>/vote/",
        meetings.QuestionVoteApi.as_view(),
        name="question-vote",
    ),
    path(
        "meetings/<int:meeting_id>/questions/<uuid:question_id>/approve/",
        meetings.QuestionApproveApi.as_view(),
        name="question-approve",
    ),
    path(
        "meetings/<int:meeting_id>/questions/<uuid:question_id>/reject/",
        meetings.QuestionRejectApi.as_view(),
        name="question-reject",
    ),
    path(
        "meetings/<int:meeting_id>/questions/<uuid:question_id>/highlight/",
        meetings.QuestionHighlightApi.as_view(),
        name="question-highlight",
    ),
    path("ledger/entries/", ledger.LedgerEntriesApi.as_view(), name="ledger-entries"),
    path("ledger/head/", ledger.LedgerHeadApi.as_view(), name="ledger-head"),
    path("ledger/heads/", ledger.PublishedHeadsApi.as_view(), name="ledger-heads"),
    path("ledger/verify/", ledger.LedgerVerifyApi.as_view(), name="ledger-verify"),
    path("me/", me.MeApi.as_view(), name="me"),
    path("me/concerns/", concerns.MyConcernListApi.as_view(), name="my-concerns"),
    path("me/preferences/", me.PreferenceApi.as_view(), name="preferences"),
    path("me/follows/", me.FollowListApi.as_view(), name="follows"),
    path("me/follows/<uuid:concern_id>/", me.FollowApi.as_view(), name="follow"),
    path("me/tokens/", me.TokenListApi.as_view(), name="tokens"),
    path("me/tokens/<int:token_id>/", me.TokenApi.as_view(), name="token"),
]
