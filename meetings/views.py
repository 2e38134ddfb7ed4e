"""Meeting pages. Each works without JavaScript, showing the state as of the page
load; static/js/meeting.js makes the audience, presenter and console views live."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from concerns import throttles
from concerns.errors import ConcernError, RateLimited
from meetings import selectors, services
from meetings.forms import (
    AgendaConcernForm,
    AgendaTopicForm,
    MeetingForm,
    NotesForm,
    QuestionForm,
)
from meetings.models import AgendaItem, LiveQuestion, Meeting


@login_required
@require_http_methods(["GET", "POST"])
def meeting_list(request: HttpRequest) -> HttpResponse:
    form = MeetingForm(request.POST or None)
    if request.method == "POST":
        if not request.user.can_moderate:
            return HttpResponseForbidden("Only moderators plan meetings.")
        if form.is_valid():
            try:
                meeting = services.meeting_create(
                    organiser=request.user,
                    title=form.cleaned_data["title"],
                    scheduled_start=form.cleaned_data["scheduled_start"],
                    hosts=[request.user],
                )
            except ConcernError as error:
                form.add_error(None, str(error))
            else:
                return redirect("meetings:console", meeting_id=meeting.pk)
    return render(
        request,
        "meetings/list.html",
        {"lists": selectors.meeting_lists(), "form": form},
        status=400 if form.errors else 200,
    )


def _page(request: HttpRequest, meeting_id: int, template: str, *, drivers_only=False):
    meeting = get_object_or_404(Meeting, pk=meeting_id)
    is_driver = services.can_drive(meeting, request.user)
    if drivers_only and not is_driver:
        return HttpResponseForbidden("Only moderators and the meeting's hosts can run it.")
    page = selectors.meeting_page(meeting_id=meeting_id, for_drivers=is_driver)
    context = {
        "page": page,
        "meeting": page.meeting,
        "is_driver": is_driver,
        "question_form": QuestionForm(),
        "current": next((i for i in page.items if i.pk == page.meeting.current_item_id), None),
    }
    if is_driver:
        context.update(
            concern_form=AgendaConcernForm(), topic_form=AgendaTopicForm(), notes_form=NotesForm()
        )
    return render(request, template, context)


@login_required
def meeting_detail(request: HttpRequest, meeting_id: int) -> HttpResponse:
    return _page(request, meeting_id, "meetings/detail.html")


@login_required
def meeting_presenter(request: HttpRequest, meeting_id: int) -> HttpResponse:
    return _page(request, meeting_id, "meetings/presenter.html")


@login_required
def meeting_console(request: HttpRequest, meeting_id: int) -> HttpResponse:
    return _page(request, meeting_id, "meetings/console.html", drivers_only=True)


def _item(meeting: Meeting, request: HttpRequest) -> AgendaItem:
    item = AgendaItem.objects.filter(meeting=meeting, pk=request.POST.get("item") or 0).first()
    if item is None:
        raise ConcernError("Choose an item on this meeting's agenda.")
    return item


def _question(meeting: Meeting, request: HttpRequest) -> LiveQuestion:
    question = LiveQuestion.objects.filter(
        meeting=meeting, pk=request.POST.get("question") or None
    ).first()
    if question is None:
        raise ConcernError("That question is not part of this meeting.")
    return question


def _agenda_form_problem(form, item_problem: str) -> str:
    if "time_box_minutes" in form.errors:
        return "A time box is between 1 and 240 minutes."
    return item_problem


def _run(request: HttpRequest, meeting: Meeting, action: str) -> str:
    """Calls the service for one console button and returns the message to show."""
    user = request.user
    if action == "start":
        services.meeting_start(meeting=meeting, actor=user)
        return "The meeting is live."
    if action == "advance":
        item = _item(meeting, request) if request.POST.get("item") else None
        services.meeting_advance(meeting=meeting, actor=user, item=item)
        return "Moved on."
    if action == "discussed":
        services.agenda_item_mark_discussed(item=_item(meeting, request), actor=user)
        return "Marked as discussed. It still needs a written response."
    if action == "end":
        due = services.meeting_end(meeting=meeting, actor=user)
        return f"The meeting has ended. {due} discussed concern(s) now owe a written response."
    if action == "propose":
        added = services.agenda_propose(meeting=meeting, moderator=user)
        return f"{added} concern(s) proposed for the agenda."
    if action == "add-concern":
        form = AgendaConcernForm(request.POST)
        if not form.is_valid():
            raise ConcernError(_agenda_form_problem(form, "Choose a public concern."))
        services.agenda_item_add(meeting=meeting, moderator=user, **form.cleaned_data)
        return "Added to the agenda."
    if action == "add-topic":
        form = AgendaTopicForm(request.POST)
        if not form.is_valid():
            raise ConcernError(
                _agenda_form_problem(form, "Write a topic of at most 140 characters.")
            )
        services.agenda_item_add(meeting=meeting, moderator=user, **form.cleaned_data)
        return "Added to the agenda."
    if action == "remove":
        services.agenda_item_remove(item=_item(meeting, request), moderator=user)
        return "Removed from the agenda."
    if action in ("up", "down"):
        services.agenda_item_move(item=_item(meeting, request), moderator=user, direction=action)
        return "Agenda reordered."
    if action == "notes":
        form = NotesForm(request.POST)
        if not form.is_valid():
            raise ConcernError("Notes must be at most 20,000 characters.")
        services.agenda_item_notes(
            item=_item(meeting, request), author=user, notes=form.cleaned_data["notes"]
        )
        return "Notes saved."
    if action == "approve":
        concern = services.question_approve(question=_question(meeting, request), actor=user)
        return f"Approved. It is now an open concern: “{concern.title}”."
    if action == "reject":
        services.question_reject(question=_question(meeting, request), actor=user)
        return "Question set aside."
    if action == "highlight":
        services.question_highlight(question=_question(meeting, request), actor=user)
        return "Highlight changed."
    raise Http404("No such action.")


@login_required
@require_POST
def meeting_act(request: HttpRequest, meeting_id: int, action: str) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=meeting_id)
    if not services.can_drive(meeting, request.user):
        return HttpResponseForbidden("Only moderators and the meeting's hosts can run it.")
    try:
        messages.success(request, _run(request, meeting, action))
    except ConcernError as error:
        messages.error(request, str(error))
    return redirect("meetings:console", meeting_id=meeting.pk)


@sensitive_post_parameters("text")
@login_required
@require_POST
def question_ask(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=meeting_id)
    form = QuestionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write a question of at most 500 characters.")
        return redirect(meeting.get_absolute_url())
    try:
        throttles.question_limit(request)
    except RateLimited as error:
        return render(request, "429.html", {"message": str(error)}, status=429)
    try:
        _question, receipt = services.question_ask(
            meeting=meeting,
            asker=request.user,
            text=form.cleaned_data["text"],
            anonymous=form.cleaned_data["anonymous"],
        )
    except ConcernError as error:
        messages.error(request, str(error))
        return redirect(meeting.get_absolute_url())
    if receipt is None:
        messages.success(request, "Your question is waiting for a moderator.")
        return redirect(meeting.get_absolute_url())
    response = render(
        request, "meetings/question_receipt.html", {"receipt": receipt, "meeting": meeting}
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def question_vote(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=meeting_id)
    try:
        services.question_vote(question=_question(meeting, request), voter=request.user)
    except ConcernError as error:
        messages.error(request, str(error))
    return redirect(meeting.get_absolute_url())
