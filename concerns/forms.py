from django import forms
from django.conf import settings

from accounts.models import Department
from concerns.models import VOTABLE_STATUSES, Concern, Tag
from concerns.services import BODY_MAX, MESSAGE_MAX, TITLE_MAX

IDENTITY_CHOICES = [
    ("named", "Named: my name is shown with the concern"),
    ("anonymous", "Anonymous: nothing links the concern to me; I keep a receipt"),
]


class ConcernForm(forms.Form):
    title = forms.CharField(
        max_length=TITLE_MAX,
        help_text=f"At most {TITLE_MAX} characters. Say what worries you in one line.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    body = forms.CharField(
        label="Description",
        max_length=BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Markdown works: *emphasis*, lists, links.",
    )
    tags = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    department = forms.ModelChoiceField(
        queryset=Department.objects.order_by("name"),
        required=False,
        empty_label="No department",
        help_text="Optional. It is shown only for departments of at least "
        f"{settings.ANONYMITY_MIN_GROUP_SIZE} people.",
    )
    identity = forms.ChoiceField(
        choices=IDENTITY_CHOICES,
        initial="named",
        widget=forms.RadioSelect,
        label="Raise it as",
    )

    @property
    def anonymous(self) -> bool:
        return self.cleaned_data.get("identity") == "anonymous"


class PublicConcernForm(ConcernForm):
    """The anonymous form for people who will not use a signed-in session."""

    identity = None
    access_phrase = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        help_text="The phrase your organisation shared with all staff.",
    )

    field_order = ["access_phrase", "title", "body", "tags", "department"]

    @property
    def anonymous(self) -> bool:
        return True


class ReceiptForm(forms.Form):
    receipt = forms.CharField(
        max_length=80,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
        help_text="The code you were shown when you raised the concern.",
    )


class ReceiptReplyForm(ReceiptForm):
    body = forms.CharField(
        label="Your answer", max_length=MESSAGE_MAX, widget=forms.Textarea(attrs={"rows": 5})
    )


class MessageForm(forms.Form):
    body = forms.CharField(
        label="Message", max_length=MESSAGE_MAX, widget=forms.Textarea(attrs={"rows": 4})
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        max_length=MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The submitter reads this, anonymous or not.",
    )


class MergeForm(forms.Form):
    into = forms.ModelChoiceField(
        queryset=Concern.objects.filter(status__in=VOTABLE_STATUSES),
        label="Merge into",
        empty_label="Choose the concern it duplicates",
        to_field_name="pk",
    )

    def __init__(self, *args, targets=None, **kwargs):
        super().__init__(*args, **kwargs)
        if targets is not None:
            self.fields["into"].choices = [("", self.fields["into"].empty_label)] + [
                (str(c.pk), f"{c.title} ({c.vote_count} votes)") for c in targets
            ]


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    sort = forms.CharField(required=False)
    status = forms.CharField(required=False)
    tag = forms.CharField(required=False)
