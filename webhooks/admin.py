from django import forms
from django.conf import settings
from django.contrib import admin, messages

from concerns.errors import ConcernError
from webhooks.models import Endpoint, EventType, WebhookAttempt, WebhookDelivery
from webhooks.services import targets_private_network, webhook_retry


class EndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Endpoint
        fields = ("url", "description", "secret", "events", "active")
        widgets = {"secret": forms.PasswordInput(render_value=True)}

    def clean_url(self):
        url = self.cleaned_data["url"]
        if not url.startswith(("https://", "http://")):
            raise forms.ValidationError("Use an http or https address.")
        if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS and targets_private_network(url):
            raise forms.ValidationError(
                "That address is on this machine or a private network. Set "
                "WEBHOOK_ALLOW_PRIVATE_TARGETS=1 if receivers really live there."
            )
        return url


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ("url", "description", "active", "created_at")


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("at", "response_code", "error")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "endpoint", "status", "attempts", "response_code", "delivered_at")
    list_filter = ("status", "endpoint")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [AttemptInline]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Deliver the selected failed deliveries again")
    def retry(self, request, queryset):
        for delivery in queryset:
            try:
                webhook_retry(delivery=delivery)
            except ConcernError as error:
                self.message_user(request, str(error), messages.ERROR)
