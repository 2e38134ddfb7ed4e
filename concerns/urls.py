from django.urls import path

from concerns import views

app_name = "concerns"

urlpatterns = [
    path("", views.concern_list, name="list"),
    path("concerns/new/", views.concern_new, name="new"),
    path("concerns/anonymous/", views.concern_new_public, name="new-public"),
    path("concerns/similar/", views.concern_similar, name="similar"),
    path("concerns/mine/", views.concerns_mine, name="mine"),
    path("concerns/<uuid:concern_id>/", views.concern_detail, name="detail"),
    path("concerns/<uuid:concern_id>/vote/", views.concern_vote, name="vote"),
    path("concerns/<uuid:concern_id>/withdraw/", views.concern_withdraw, name="withdraw"),
    path("concerns/<uuid:concern_id>/messages/", views.concern_message, name="message"),
    path("receipt/", views.receipt_lookup, name="receipt"),
    path("receipt/reply/", views.receipt_reply, name="receipt-reply"),
    path("receipt/withdraw/", views.receipt_withdraw, name="receipt-withdraw"),
    path("moderation/", views.moderation_queue, name="moderation"),
    path(
        "moderation/<uuid:concern_id>/<slug:action>/",
        views.moderation_act,
        name="moderate",
    ),
]
