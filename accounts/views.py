from django.contrib.auth import views as auth_views
from django.shortcuts import render

from concerns import throttles
from concerns.errors import RateLimited


class SignInView(auth_views.LoginView):
    """Password sign-in, rate limited per client and per username."""

    template_name = "accounts/sign_in.html"

    def post(self, request, *args, **kwargs):
        try:
            throttles.sign_in_limit(request, request.POST.get("username", ""))
        except RateLimited as error:
            return render(request, "429.html", {"message": str(error)}, status=429)
        return super().post(request, *args, **kwargs)
