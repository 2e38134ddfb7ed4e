from django.urls import path

from meetings import views

app_name = "meetings"

urlpatterns = [
    path("", views.meeting_list, name="list"),
    path("<int:meeting_id>/", views.meeting_detail, name="detail"),
    path("<int:meeting_id>/presenter/", views.meeting_presenter, name="presenter"),
    path("<int:meeting_id>/console/", views.meeting_console, name="console"),
    path("<int:meeting_id>/ask/", views.question_ask, name="ask"),
    path("<int:meeting_id>/vote/", views.question_vote, name="vote"),
    path("<int:meeting_id>/act/<slug:action>/", views.meeting_act, name="act"),
]
