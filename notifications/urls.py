from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("preferences/", views.preferences, name="preferences"),
    path("digest/", views.digest_in_browser, name="digest"),
    path("concerns/<uuid:concern_id>/follow/", views.follow_toggle, name="follow"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
