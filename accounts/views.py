from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import render

from concerns import throttles
from concerns.errors import RateLimited


class SignInView(auth_views.LoginView):
    """Password sign-in, rate limited per client and per username."""

    template_name = "accounts/sign_in.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # Single sign-on is offered beside the password, never instead of it.
        context["sso_provider_name"] = settings.OIDC_PROVIDER_NAME if settings.OIDC_ENABLED else ""
        return context

    def post(self, request, *args, **kwargs):
        try:
            throttles.sign_in_limit(request, request.POST.get("username", ""))
        except RateLimited as error:
            return render(request, "429.html", {"message": str(error)}, status=429)
        return super().post(request, *args, **kwargs)
