"""Pages where anonymous work happens send no Referer, and their forms still work.

The anonymous forms and the receipt pages answer with `Referrer-Policy: no-referrer`
(issue 7), so nothing the browser sends afterwards names the page it came from. Per
the Fetch standard, a form posted from such a page carries `Origin: null` and no
Referer, which Django's CSRF protection refuses as a bad origin. For views marked
with `no_referrer`, and only for a POST that says `Origin: null` and sends no Referer,
the origin check is skipped and the CSRF token alone decides: the token must match the
CSRF cookie, which is SameSite=Lax (never sent with a cross-site POST) and, in
production, Secure under HSTS. Every other request is checked exactly as Django does.
"""

from functools import wraps

from django.middleware.csrf import CsrfViewMiddleware, RejectRequest
from django.utils.cache import patch_cache_control
from django.utils.deprecation import MiddlewareMixin


def no_referrer(view):
    """Marks a view as an anonymous page: no Referer leaves it, nothing caches it."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        patch_cache_control(response, no_store=True, private=True)
        return response

    wrapped.accepts_null_origin = True
    return wrapped


class NullOriginCsrfMiddleware(MiddlewareMixin):
    """Placed just before Django's CsrfViewMiddleware, which then skips a request this
    one has already decided (the `csrf_processing_done` flag Django itself sets)."""

    def process_view(self, request, callback, callback_args, callback_kwargs):
        if not (
            request.method == "POST"
            and request.META.get("HTTP_ORIGIN") == "null"
            and "HTTP_REFERER" not in request.META
            and getattr(callback, "accepts_null_origin", False)
            and not getattr(callback, "csrf_exempt", False)
            and not getattr(request, "_dont_enforce_csrf_checks", False)
        ):
            return None  # Django's middleware checks it as usual
        checker = CsrfViewMiddleware(self.get_response)
        try:
            checker._check_token(request)
        except RejectRequest as exc:
            return checker._reject(request, exc.reason)
        request.csrf_processing_done = True
        return None
