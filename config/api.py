"""Plumbing every app's `apis.py` shares: bearer tokens, problem+json errors,
exact rate limits on Redis, and cursor pagination."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, JsonResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import exception_handler

from concerns import throttles
from concerns.anonymity import keyed_hash
from concerns.errors import (
    ConcernError,
    ConcernNotFound,
    IllegalTransition,
    InvalidInput,
    NotAllowed,
    RateLimited,
    ReceiptNotFound,
)

PROBLEM = "application/problem+json"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token."}


class IsModerator(BasePermission):
    message = "Only moderators can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.can_moderate)


class IsLeader(BasePermission):
    message = "Only leaders can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_leader)


_DOMAIN_STATUS = (
    (ReceiptNotFound, status.HTTP_404_NOT_FOUND, "Receipt not found"),
    (ConcernNotFound, status.HTTP_404_NOT_FOUND, "Not found"),
    (NotAllowed, status.HTTP_403_FORBIDDEN, "Not allowed"),
    (IllegalTransition, status.HTTP_409_CONFLICT, "Not possible now"),
    (InvalidInput, status.HTTP_400_BAD_REQUEST, "Invalid input"),
    (RateLimited, status.HTTP_429_TOO_MANY_REQUESTS, "Too many requests"),
)


def _problem(status_code: int, title: str, detail: str, errors=None) -> Response:
    body = {"type": "about:blank", "title": title, "status": status_code, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, content_type=PROBLEM)


def problem_exception_handler(exc, context):
    """Every error as RFC 9457 problem details, with field errors where there are."""
    if isinstance(exc, ConcernError):
        for kind, code, title in _DOMAIN_STATUS:
            if isinstance(exc, kind):
                return _problem(code, title, str(exc))
        return _problem(400, "Invalid input", str(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        problem = _problem(400, "Invalid input", "Some fields are not valid.", errors)
    else:
        detail = data.get("detail", "") if isinstance(data, dict) else str(data)
        problem = _problem(response.status_code, _title(response.status_code), str(detail))
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            problem[header] = response[header]
    return problem


def _title(code: int) -> str:
    return {
        401: "Not signed in",
        403: "Not allowed",
        404: "Not found",
        405: "Method not allowed",
        406: "Not acceptable",
        415: "Unsupported media type",
        429: "Too many requests",
    }.get(code, "Error")


class ExactRateThrottle(BaseThrottle):
    """A fixed-window limit counted with an atomic increment in the cache (Redis in
    production): of any number of simultaneous requests, exactly the limit pass.

    Keyed by token, else person, else a coarse client bucket. Views that act
    anonymously use the client bucket only, so no person's id lands in a cache key
    next to anonymous work."""

    def allow_request(self, request, view):
        self.wait_seconds = settings.API_THROTTLE_PERIOD
        if getattr(view, "throttle_anonymously", False) or not request.user.is_authenticated:
            key = f"client:{throttles.client_bucket(request)}"
        elif request.auth is not None and hasattr(request.auth, "pk"):
            # Keyed, like every counter: a cache key must not be an activity log.
            key = "token:" + keyed_hash("limit-api-token", str(request.auth.pk))[:24]
        else:
            key = "person:" + throttles.person_bucket(request, "api")
        api = throttles.Window(
            scope="api",
            bucket=key,
            per_period=settings.API_REQUESTS_PER_PERIOD,
            period=settings.API_THROTTLE_PERIOD,
            message="",
        )
        # A view's own limits (the vote's, say) are counted in the same round trip.
        own = view.rate_limits(request) if hasattr(view, "rate_limits") else ()
        exceeded = throttles.first_exceeded(api, *own)
        if exceeded is api:
            return False
        if exceeded is not None:
            raise RateLimited(exceeded.message)
        return True

    def wait(self):
        return self.wait_seconds


class SafeCursorPagination(CursorPagination):
    """A forged cursor position (text where a number is ordered, say) is a 404 problem,
    never a database error."""

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, OverflowError, DjangoValidationError, DataError) as error:
            raise exceptions.NotFound(self.invalid_cursor_message) from error


def api_not_found(request, *args, **kwargs):
    """Unknown addresses under /api/ answer in the API's own error format."""
    body = {"type": "about:blank", "title": "Not found", "status": 404,
            "detail": "There is no API resource at this address."}  # fmt: skip
    return JsonResponse(body, status=404, content_type=PROBLEM)
