from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Answerable administration"
admin.site.site_title = "Answerable"

urlpatterns = [
    path("", include("concerns.urls")),
    path("", include("responses.urls")),
    path("ledger/", include("ledger.urls")),
    path("", include("notifications.urls")),
    path("accounts/", include("accounts.urls")),
    path("meetings/", include("meetings.urls")),
    path("admin/", admin.site.urls),
]
