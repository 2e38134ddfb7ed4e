from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/tokens/", views.token_create, name="token-create"),
    path("preferences/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("digest/", views.digest_in_browser, name="digest"),
    path("concerns/<uuid:concern_id>/follow/", views.follow_toggle, name="follow"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
