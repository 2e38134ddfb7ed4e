from django.urls import path

from responses import views

app_name = "responses"

urlpatterns = [
    path("concerns/<uuid:concern_id>/respond/", views.response_edit, name="edit"),
    path("concerns/<uuid:concern_id>/commitments/", views.commitment_add, name="commitment-add"),
    path("concerns/<uuid:concern_id>/rate/", views.rating_cast, name="rate"),
    path(
        "commitments/<int:commitment_id>/update/", views.commitment_update, name="commitment-update"
    ),
    path("overdue/", views.overdue, name="overdue"),
    path("accountability/", views.dashboard, name="dashboard"),
]
