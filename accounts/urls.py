from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.views import SignInView

app_name = "accounts"

urlpatterns = [
    path("sign-in/", SignInView.as_view(), name="sign-in"),
    path("sign-out/", auth_views.LogoutView.as_view(), name="sign-out"),
]
