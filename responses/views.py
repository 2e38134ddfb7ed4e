"""Pages for writing responses, commitments, ratings, the overdue list and the
accountability dashboard."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from concerns.errors import ConcernError
from concerns.models import Concern
from responses import selectors, services
from responses.forms import (
    CommitmentForm,
    CommitmentUpdateForm,
    RatingForm,
    ResponseDraftForm,
)
from responses.models import Commitment


def _public_concern(concern_id) -> Concern:
    concern = Concern.objects.filter(pk=concern_id).first()
    if concern is None or not concern.is_public:
        raise Http404("That concern does not exist or is not public.")
    return concern


@login_required
@require_http_methods(["GET", "POST"])
def response_edit(request: HttpRequest, concern_id) -> HttpResponse:
    if not request.user.is_leader:
        return HttpResponseForbidden("Only leaders write responses.")
    concern = _public_concern(concern_id)
    view = selectors.response_view(concern=concern, viewer=request.user)
    draft = view.response
    initial = (
        {
            "position": draft.draft_position,
            "summary": draft.draft_summary,
            "details": draft.draft_details,
        }
        if draft
        else {}
    )
    form = ResponseDraftForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.response_draft_save(
                    concern=concern,
                    leader=request.user,
                    position=data["position"],
                    summary=data["summary"],
                    details=data["details"],
                )
                if request.POST.get("publish"):
                    version = services.response_publish(
                        concern=concern, leader=request.user, change_reason=data["change_reason"]
                    )
                    messages.success(
                        request, f"Version {version.number} is published and on the ledger."
                    )
                    return redirect(concern.get_absolute_url() + "#response")
                messages.success(request, "Draft saved. Only leaders can see it.")
                return redirect("responses:edit", concern_id=concern.pk)
            except ConcernError as error:
                form.add_error(None, str(error))
        status = 400
    return render(
        request,
        "responses/edit.html",
        {"concern": concern, "form": form, "view": view},
        status=status,
    )


def _on_concern(request: HttpRequest, concern: Concern, action, success: str) -> HttpResponse:
    try:
        action()
    except ConcernError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, success)
    return redirect(concern.get_absolute_url() + "#response")


@login_required
@require_POST
def commitment_add(request: HttpRequest, concern_id) -> HttpResponse:
    concern = _public_concern(concern_id)
    form = CommitmentForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        messages.error(request, f"The commitment was not added. {errors}")
        return redirect(concern.get_absolute_url() + "#response")
    return _on_concern(
        request,
        concern,
        lambda: services.commitment_add(concern=concern, leader=request.user, **form.cleaned_data),
        "Commitment added and recorded on the ledger.",
    )


@login_required
@require_POST
def commitment_update(request: HttpRequest, commitment_id: int) -> HttpResponse:
    commitment = get_object_or_404(Commitment.objects.select_related("response"), pk=commitment_id)
    concern = commitment.response.concern
    form = CommitmentUpdateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a status for the update.")
        return redirect(concern.get_absolute_url() + "#response")
    return _on_concern(
        request,
        concern,
        lambda: services.commitment_update(
            commitment=commitment,
            author=request.user,
            to_status=form.cleaned_data["status"],
            note=form.cleaned_data["note"],
        ),
        "Update recorded.",
    )


@login_required
@require_POST
def rating_cast(request: HttpRequest, concern_id) -> HttpResponse:
    concern = _public_concern(concern_id)
    form = RatingForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose whether the response answered the concern.")
        return redirect(concern.get_absolute_url() + "#response")
    return _on_concern(
        request,
        concern,
        lambda: services.rating_cast(
            concern=concern, rater=request.user, value=form.cleaned_data["value"]
        ),
        "Thank you. Your rating is counted without your name.",
    )


@login_required
def overdue(request: HttpRequest) -> HttpResponse:
    return render(request, "responses/overdue.html", {"concerns": selectors.overdue_list()})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request, "responses/dashboard.html", {"dashboard": selectors.accountability_dashboard()}
    )
