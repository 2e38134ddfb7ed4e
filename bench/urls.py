"""config.urls plus /bench/bare/: a plain Django view that runs through the same
middleware, server and worker threads as every product page, but touches neither the
database nor Redis. Every benchmark compares its figures with this endpoint's,
measured on the same server in the same run."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/bare/", bare), *product_urlpatterns]
