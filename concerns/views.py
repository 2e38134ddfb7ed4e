"""Pages for concerns: thin edges over services and selectors.

The receipt never appears in a URL, a redirect or a session: pages that need it are
answers to a POST, and the forms on them carry it back in their POST bodies.
"""

import dataclasses
from functools import wraps
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Organisation
from concerns import selectors, services, throttles
from concerns.errors import (
    ConcernError,
    ConcernNotFound,
    RateLimited,
    ReceiptNotFound,
    WrongAccessPhrase,
)
from concerns.forms import (
    ConcernForm,
    MergeForm,
    MessageForm,
    PublicConcernForm,
    ReceiptForm,
    ReceiptReplyForm,
    RejectForm,
    SearchForm,
)
from concerns.models import VOTABLE_STATUSES, Concern, Status
from config.csrf import no_referrer
from responses import selectors as response_selectors
from responses.forms import AssignLeaderForm, CommitmentForm
from responses.models import CommitmentStatus

# Error reports must never carry a receipt or an anonymous draft next to the request's
# address, user agent and user.
anonymous_post = sensitive_post_parameters("receipt", "title", "body", "access_phrase", "text")


def moderator_required(view):
    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.can_moderate:
            return HttpResponseForbidden(render(request, "403.html").content)
        return view(request, *args, **kwargs)

    return wrapped


def _too_many(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "429.html", {"message": message}, status=429)


def _concern_or_404(concern_id: UUID) -> Concern:
    concern = Concern.objects.filter(pk=concern_id).first()
    if concern is None:
        raise Http404("No such concern.")
    return concern


def _back_to(request: HttpRequest, concern: Concern, outcome, success: str):
    """Runs a service call for a button on a concern page: a domain error becomes a
    message on the page, never an error page."""
    try:
        outcome()
    except ConcernError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, success)
    return redirect("concerns:detail", concern_id=concern.pk)


@login_required
def concern_list(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    form.is_valid()
    data = form.cleaned_data
    q = data.get("q") or ""
    filters = selectors.ConcernFilters(
        sort=data.get("sort") or ("relevant" if q else "top"),
        status=data.get("status") or "",
        tag=data.get("tag") or "",
        q=q,
        cursor=request.GET.get("cursor", ""),
    )
    damaged_link = False
    try:
        page = selectors.concern_list(viewer=request.user, filters=filters)
    except ConcernNotFound:
        damaged_link = True
        filters = dataclasses.replace(filters, cursor="")
        page = selectors.concern_list(viewer=request.user, filters=filters)
    return render(
        request,
        "concerns/list.html",
        {
            "page": page,
            "filters": filters,
            "damaged_link": damaged_link,
            "first_link": _list_link(filters, ""),
            "next_link": _list_link(filters, page.next_cursor),
            "previous_link": _list_link(filters, page.previous_cursor),
            "sorts": selectors.SORTS,
            "statuses": selectors.status_choices(),
            "tags": page.all_tags,
        },
    )


def _list_link(filters: selectors.ConcernFilters, cursor: str | None) -> str | None:
    """A link to another page of the list that keeps the search, filters and sort."""
    if cursor is None:
        return None
    params = {"q": filters.q, "sort": filters.sort, "status": filters.status, "tag": filters.tag}
    if cursor:
        params["cursor"] = cursor
    return "?" + urlencode(params)


def _submitted(request: HttpRequest, submission: services.Submission) -> HttpResponse:
    if submission.receipt is None:
        messages.success(request, "Your concern was sent to the moderators.")
        return redirect("concerns:detail", concern_id=submission.concern.pk)
    # The receipt is shown in this one answer and nowhere else.
    response = render(
        request,
        "concerns/receipt_issued.html",
        {"receipt": submission.receipt, "concern": submission.concern},
    )
    response["Cache-Control"] = "no-store"
    return response


@no_referrer
@anonymous_post
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def concern_new(request: HttpRequest) -> HttpResponse:
    form = ConcernForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            throttles.submission_limit(request)
        except RateLimited as error:
            return _too_many(request, str(error))
        try:
            submission = services.concern_submit(
                author=request.user,
                anonymous=form.anonymous,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                tags=form.cleaned_data["tags"],
                department=form.cleaned_data["department"],
            )
        except ConcernError as error:
            form.add_error(None, str(error))
        else:
            return _submitted(request, submission)
    return render(request, "concerns/new.html", {"form": form}, status=_form_status(request, form))


def _form_status(request: HttpRequest, form) -> int:
    return 400 if request.method == "POST" and form.errors else 200


@no_referrer
@anonymous_post
@never_cache
@require_http_methods(["GET", "POST"])
def concern_new_public(request: HttpRequest) -> HttpResponse:
    organisation = Organisation.current()
    if not organisation.public_form_enabled:
        raise Http404("The anonymous form without sign-in is not enabled.")
    form = PublicConcernForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            throttles.public_submission_limit(request)
            submission = services.concern_submit_public(
                organisation=organisation,
                access_phrase=form.cleaned_data["access_phrase"],
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                tags=form.cleaned_data["tags"],
                department=form.cleaned_data["department"],
            )
            return _submitted(request, submission)
        except WrongAccessPhrase as error:
            form.add_error("access_phrase", str(error))
        except RateLimited as error:
            form.add_error(None, str(error))
            return render(request, "concerns/new_public.html", {"form": form}, status=429)
        except ConcernError as error:
            form.add_error(None, str(error))
    return render(
        request, "concerns/new_public.html", {"form": form}, status=_form_status(request, form)
    )


@anonymous_post
@require_POST
def concern_similar(request: HttpRequest) -> HttpResponse:
    """Suggestions while typing. A POST, so a half-written concern never lands in a
    URL or an access log."""
    # Titles of open concerns are for staff who signed in, not for anyone who can
    # reach the public form.
    if not request.user.is_authenticated:
        return HttpResponseForbidden("Sign in first.")
    text = request.POST.get("text", "")[:400]
    return render(
        request, "concerns/_similar.html", {"similar": selectors.concern_similar(text=text)}
    )


@login_required
def concern_detail(request: HttpRequest, concern_id: UUID) -> HttpResponse:
    try:
        detail = selectors.concern_detail(viewer=request.user, concern_id=concern_id)
    except ConcernNotFound as error:
        raise Http404(str(error)) from error
    concern = detail.concern
    context = {
        "detail": detail,
        "concern": concern,
        "message_form": MessageForm(),
        "rv": response_selectors.response_view(concern=concern, viewer=request.user),
        "commitment_form": CommitmentForm(),
        "commitment_statuses": CommitmentStatus.choices,
    }
    if request.user.can_moderate and concern.awaiting_moderation:
        context["moderation"] = _moderation_forms(concern)
    if request.user.can_moderate and concern.status in VOTABLE_STATUSES:
        context["assign_form"] = AssignLeaderForm(initial={"leader": concern.accountable_leader_id})
    return render(request, "concerns/detail.html", context)


@login_required
@require_POST
def concern_vote(request: HttpRequest, concern_id: UUID) -> HttpResponse:
    concern = _concern_or_404(concern_id)
    retract = request.POST.get("action") == "retract"
    try:
        throttles.vote_limit(request)
    except RateLimited as error:
        return _too_many(request, str(error))
    try:
        changed = services.vote_change(
            concern_id=concern.pk, voter=request.user, cast=not retract
        ).changed
        if retract:
            messages.success(
                request, "Your vote was withdrawn." if changed else "You had not voted on this."
            )
        else:
            messages.success(
                request,
                "Your vote was counted. Nobody can see who voted."
                if changed
                else "You already support this concern; your vote counts once.",
            )
    except ConcernError as error:
        messages.error(request, str(error))
    return redirect("concerns:detail", concern_id=concern.pk)


@login_required
@require_POST
def concern_withdraw(request: HttpRequest, concern_id: UUID) -> HttpResponse:
    concern = _concern_or_404(concern_id)
    return _back_to(
        request,
        concern,
        lambda: services.concern_withdraw(concern=concern, author=request.user),
        "Your concern was withdrawn.",
    )


@login_required
@require_POST
def concern_message(request: HttpRequest, concern_id: UUID) -> HttpResponse:
    concern = _concern_or_404(concern_id)
    form = MessageForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write a message first (at most 5,000 characters).")
        return redirect("concerns:detail", concern_id=concern.pk)
    body = form.cleaned_data["body"]
    return _back_to(
        request,
        concern,
        lambda: services.message_send(concern=concern, author=request.user, body=body),
        "Your message was sent.",
    )


@login_required
def concerns_mine(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "concerns/mine.html",
        {"concerns": selectors.concerns_by_author(author=request.user)},
    )


# Receipts --------------------------------------------------------------------------


def _receipt_page(
    request: HttpRequest, receipt: str, *, status: int = 200, error: str = ""
) -> HttpResponse:
    concern = services.receipt_concern(receipt=receipt)
    response = render(
        request,
        "concerns/receipt_status.html",
        {
            "detail": selectors.receipt_detail(concern=concern),
            # The written response, read-only: the submitter holds only the receipt.
            "rv": response_selectors.response_view(concern=concern, viewer=None)
            if concern.is_public
            else None,
            "receipt": receipt,
            "reply_form": ReceiptReplyForm(initial={"receipt": receipt}),
            "error": error,
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@no_referrer
@anonymous_post
@never_cache
@require_http_methods(["GET", "POST"])
def receipt_lookup(request: HttpRequest) -> HttpResponse:
    form = ReceiptForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            throttles.receipt_lookup_limit(request)
            return _receipt_page(request, form.cleaned_data["receipt"])
        except RateLimited as error:
            form.add_error(None, str(error))
            status = 429
        except ReceiptNotFound as error:
            form.add_error("receipt", str(error))
            status = 404
    elif request.method == "POST":
        status = 400
    return render(request, "concerns/receipt_lookup.html", {"form": form}, status=status)


@no_referrer
@anonymous_post
@never_cache
@require_POST
def receipt_reply(request: HttpRequest) -> HttpResponse:
    form = ReceiptReplyForm(request.POST)
    return _receipt_action(
        request,
        form,
        lambda data: services.message_reply_by_receipt(receipt=data["receipt"], body=data["body"]),
    )


@no_referrer
@anonymous_post
@never_cache
@require_POST
def receipt_withdraw(request: HttpRequest) -> HttpResponse:
    form = ReceiptForm(request.POST)
    return _receipt_action(
        request,
        form,
        lambda data: services.concern_withdraw_by_receipt(receipt=data["receipt"]),
    )


def _receipt_action(request: HttpRequest, form, action) -> HttpResponse:
    try:
        throttles.receipt_lookup_limit(request)
    except RateLimited as error:
        form.is_valid()
        form.add_error(None, str(error))
        return render(request, "concerns/receipt_lookup.html", {"form": form}, status=429)
    if not form.is_valid():
        receipt = form.data.get("receipt", "")
        try:
            return _receipt_page(
                request,
                receipt,
                status=400,
                error="Write an answer first (at most 5,000 characters).",
            )
        except ReceiptNotFound:
            return render(request, "concerns/receipt_lookup.html", {"form": form}, status=400)
    try:
        action(form.cleaned_data)
    except ReceiptNotFound as error:
        form.add_error("receipt", str(error))
        return render(request, "concerns/receipt_lookup.html", {"form": form}, status=404)
    except ConcernError as error:
        return _receipt_page(request, form.cleaned_data["receipt"], status=409, error=str(error))
    return _receipt_page(request, form.cleaned_data["receipt"])


# Moderation ------------------------------------------------------------------------


def _moderation_forms(concern: Concern) -> dict:
    return {
        "next_batch": services.next_publication_batch() if concern.is_anonymous else None,
        "reject_form": RejectForm(),
        "merge_form": MergeForm(targets=selectors.merge_targets(excluding=concern)),
    }


@moderator_required
def moderation_queue(request: HttpRequest) -> HttpResponse:
    return render(
        request, "concerns/moderation_queue.html", {"queue": selectors.moderation_queue()}
    )


@moderator_required
@require_POST
def moderation_act(request: HttpRequest, concern_id: UUID, action: str) -> HttpResponse:
    concern = _concern_or_404(concern_id)
    action = action.replace("-", "_")
    if action not in services.MODERATION_ACTIONS:
        raise Http404("No such moderation action.")
    fields, problem = _moderation_fields(action, request)
    if problem:
        messages.error(request, problem)
        return redirect("concerns:detail", concern_id=concern.pk)
    try:
        done = services.concern_moderate(
            concern=concern, moderator=request.user, action=action, **fields
        )
    except ConcernError as error:
        messages.error(request, str(error))
        return redirect("concerns:detail", concern_id=concern.pk)
    if action == "approve" and done.status != Status.OPEN:
        done_message = APPROVED_FOR_BATCH.format(
            title=concern.title, at=services.next_publication_batch()
        )
    else:
        done_message = MODERATION_DONE[action].format(title=concern.title)
    messages.success(request, done_message)
    if action in ("approve", "reject", "merge"):
        return redirect("concerns:moderation")
    return redirect("concerns:detail", concern_id=concern.pk)


APPROVED_FOR_BATCH = (
    "“{title}” is approved. Anonymous concerns are published together at fixed times, "
    "in a shuffled order: this one goes out at {at:%H:%M on %-d %b}."
)
MODERATION_DONE = {
    "review": "You are reviewing this concern.",
    "approve": "“{title}” is now open to everyone.",
    "reject": "The concern was rejected; the submitter can read why.",
    "merge": "Merged. Its votes were carried over.",
    "assign": "The accountable leader was assigned.",
    "require_response": "A written response is now due.",
}

# action: (form, the message when it is not valid, its field, the service's keyword)
_MODERATION_FORMS = {
    "reject": (RejectForm, "Give the submitter a reason for the rejection.", "reason", "reason"),
    "merge": (MergeForm, "Choose an open concern to merge into.", "into", "into"),
    "assign": (AssignLeaderForm, "Choose an active leader.", "leader", "leader"),
}


def _moderation_fields(action: str, request: HttpRequest) -> tuple[dict, str]:
    if action not in _MODERATION_FORMS:
        return {}, ""
    form_class, problem, field, keyword = _MODERATION_FORMS[action]
    form = form_class(request.POST)
    if not form.is_valid():
        return {}, problem
    return {keyword: form.cleaned_data[field]}, ""
