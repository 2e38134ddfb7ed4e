from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# Swagger UI sets inline styles from its own script; it is the one page that needs them.
docs_csp = csp_override(
    {
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF],
        "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
        "img-src": [CSP.SELF, "data:"],
        "connect-src": [CSP.SELF],
        "frame-ancestors": [CSP.NONE],
    }
)

from config.api import api_not_found  # noqa: E402
from config.api_urls import urlpatterns as api_v1  # noqa: E402

admin.site.site_header = "Answerable administration"
admin.site.site_title = "Answerable"

urlpatterns = [
    # First: API clients call often, and every pattern before theirs is tried in turn.
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("", include("concerns.urls")),
    path("", include("responses.urls")),
    path("ledger/", include("ledger.urls")),
    path("", include("notifications.urls")),
    path("accounts/", include("accounts.urls")),
    path("meetings/", include("meetings.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        docs_csp(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    re_path(r"^api/(?!schema/$|docs/$)", api_not_found),
    path("admin/", admin.site.urls),
]

if settings.OIDC_ENABLED:
    # Single sign-on: /oidc/authenticate/ sends the browser to the provider, which
    # returns it to /oidc/callback/ (the address to register with the provider).
    urlpatterns.append(path("oidc/", include("mozilla_django_oidc.urls")))
