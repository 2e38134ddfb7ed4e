from django import forms
from django.utils import timezone

from accounts.models import User
from responses.models import SUMMARY_MAX, CommitmentStatus, Position, RatingValue
from responses.services import DETAILS_MAX, REASON_MAX


class ResponseDraftForm(forms.Form):
    position = forms.ChoiceField(choices=Position.choices, widget=forms.RadioSelect)
    summary = forms.CharField(
        max_length=SUMMARY_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"At most {SUMMARY_MAX} characters: the answer in a sentence or two.",
    )
    details = forms.CharField(
        max_length=DETAILS_MAX,
        widget=forms.Textarea(attrs={"rows": 14}),
        help_text="Markdown. Explain the decision and what happens next.",
    )
    change_reason = forms.CharField(
        label="Why is the published response changing?",
        max_length=REASON_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required for every version after the first. Shown with the new version.",
    )


class CommitmentForm(forms.Form):
    description = forms.CharField(max_length=500, label="What will be done")
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("last_name", "username"),
        help_text="The person who answers for it.",
    )
    due_on = forms.DateField(
        label="Due on", widget=forms.DateInput(attrs={"type": "date"}), help_text="YYYY-MM-DD"
    )

    def clean_due_on(self):
        due_on = self.cleaned_data["due_on"]
        if due_on < timezone.localdate():
            raise forms.ValidationError("A new commitment cannot be due in the past.")
        return due_on


class CommitmentUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=CommitmentStatus.choices)
    note = forms.CharField(
        max_length=REASON_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What happened. Dropping a commitment needs a reason.",
    )


class RatingForm(forms.Form):
    value = forms.ChoiceField(choices=RatingValue.choices, widget=forms.RadioSelect, label="")


class AssignLeaderForm(forms.Form):
    leader = forms.ModelChoiceField(
        queryset=User.objects.filter(role="leader", is_active=True).order_by("last_name"),
        empty_label="Choose the accountable leader",
    )
