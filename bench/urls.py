"""config.urls plus /bench/bare/: a plain Django view that runs through the same
middleware, server and worker threads as every product page, but touches neither the
database nor Redis. Every benchmark compares its figures with this endpoint's,
measured on the same server in the same run.

/bench/signed-in/ is the same view behind `login_required`: what reading the session
and the signed-in person costs (two queries), the floor under every signed-in page."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/signed-in/", login_required(bare)),
    *product_urlpatterns,
]
