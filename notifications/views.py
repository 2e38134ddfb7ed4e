from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as account_services
from accounts.services import IssuedToken
from concerns.errors import ConcernError
from concerns.models import Concern
from notifications import selectors, services
from notifications.models import Frequency


class PreferenceForm(forms.Form):
    digest = forms.ChoiceField(choices=Frequency.choices, widget=forms.RadioSelect, label="Digest")


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=80,
        label="Token name",
        help_text="Name it after what will use it, e.g. “Slack bot”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


def _profile(
    request: HttpRequest,
    *,
    form: PreferenceForm | None = None,
    token_form: TokenForm | None = None,
    issued: IssuedToken | None = None,
    status: int = 200,
) -> HttpResponse:
    """The person's profile: who they are, their mail, what they follow, and their
    personal API tokens."""
    if form is None:
        current = services.preference_for(request.user)
        form = PreferenceForm(initial={"digest": current.digest})
    return render(
        request,
        "notifications/preferences.html",
        {
            "form": form,
            "token_form": token_form or TokenForm(),
            "issued": issued,
            "tokens": request.user.api_tokens.all(),
            "follows": selectors.follows_of(person=request.user),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    current = services.preference_for(request.user)
    form = PreferenceForm(request.POST or None, initial={"digest": current.digest})
    if request.method == "POST" and form.is_valid():
        services.preference_set(person=request.user, digest=form.cleaned_data["digest"])
        messages.success(request, "Your digest preference was saved.")
        return redirect("notifications:preferences")
    return _profile(request, form=form, status=400 if form.errors else 200)


# The token is shown in this one answer and nowhere else: not in a message, a session
# or a redirect, and no cache may keep the page.
@never_cache
@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            issued = account_services.api_token_create(
                person=request.user, name=form.cleaned_data["name"]
            )
        except ConcernError as error:
            form.add_error("name", str(error))
        else:
            return _profile(request, issued=issued)
    return _profile(request, token_form=form, status=400)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = account_services.api_token_revoke(person=request.user, token_id=token_id)
    except ConcernError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"The token “{token.name}” is revoked: it opens nothing now.")
    return redirect(reverse("notifications:preferences") + "#tokens")


@login_required
@require_POST
def follow_toggle(request: HttpRequest, concern_id) -> HttpResponse:
    concern = get_object_or_404(Concern, pk=concern_id)
    try:
        if request.POST.get("action") == "unfollow":
            services.unfollow(person=request.user, concern=concern)
            messages.success(request, "You no longer follow this concern.")
        else:
            services.follow(person=request.user, concern=concern)
            messages.success(request, "You will get a mail when this concern changes.")
    except ConcernError as error:
        messages.error(request, str(error))
    return redirect(concern.get_absolute_url())


# Mail clients post the one-click unsubscribe (RFC 8058) without a CSRF token; the
# signed token in the URL is the credential, and it can only turn digests off.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "GET":
        return render(request, "notifications/unsubscribe.html", {"token": token})
    try:
        person = services.unsubscribe(token=token)
    except ConcernError as error:
        return render(request, "notifications/unsubscribe.html", {"error": str(error)}, status=400)
    return render(request, "notifications/unsubscribe.html", {"done": True, "person": person})


@login_required
def digest_in_browser(request: HttpRequest) -> HttpResponse:
    delivery = selectors.latest_digest(person=request.user)
    context = selectors.mail_context(delivery) if delivery else {}
    return render(request, "notifications/digest.html", {"delivery": delivery, **context})
