from django import forms

from concerns.models import PUBLIC_STATUSES, Concern


class MeetingForm(forms.Form):
    title = forms.CharField(max_length=140)
    scheduled_start = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="YYYY-MM-DD HH:MM",
    )


class AgendaConcernForm(forms.Form):
    concern = forms.ModelChoiceField(
        queryset=Concern.objects.filter(status__in=PUBLIC_STATUSES).order_by("-vote_count"),
        empty_label="Choose a concern",
    )
    time_box_minutes = forms.IntegerField(required=False, min_value=1, max_value=240)


class AgendaTopicForm(forms.Form):
    topic = forms.CharField(max_length=140)
    time_box_minutes = forms.IntegerField(required=False, min_value=1, max_value=240)


class NotesForm(forms.Form):
    notes = forms.CharField(
        required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 4})
    )


class QuestionForm(forms.Form):
    text = forms.CharField(
        label="Your question", max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )
    anonymous = forms.BooleanField(
        required=False,
        label="Ask anonymously (you get a receipt; nothing links the question to you)",
    )
