"""config.urls plus a streaming view that reads the database while it streams, for
tests/test_asgi.py (Answerable itself has no streaming response)."""

from django.http import StreamingHttpResponse
from django.urls import path

from accounts.models import User
from config.urls import urlpatterns as product_urlpatterns


def people_stream(request):
    def rows():
        yield b"people:"
        for username in User.objects.order_by("username").values_list("username", flat=True):
            yield f" {username}".encode()

    return StreamingHttpResponse(rows(), content_type="text/plain")


urlpatterns = [path("test-stream/", people_stream), *product_urlpatterns]
