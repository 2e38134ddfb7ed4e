from django.contrib import admin, messages

from concerns.errors import ConcernError
from notifications.models import Delivery, DeliveryStatus
from notifications.services import delivery_retry


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Every mail Answerable sent or tried to send; failed ones can be retried."""

    list_display = ("key", "person", "status", "attempts", "last_error", "created_at", "sent_at")
    list_filter = ("status",)
    search_fields = ("key", "person__username")
    readonly_fields = [f.name for f in Delivery._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Send the selected failed deliveries again")
    def retry(self, request, queryset):
        retried = 0
        for delivery in queryset.filter(status=DeliveryStatus.FAILED):
            try:
                delivery_retry(delivery=delivery)
                retried += 1
            except ConcernError as error:
                self.message_user(request, str(error), messages.ERROR)
        self.message_user(request, f"{retried} delivery(ies) queued again.")
