from celery import shared_task

from notifications import services
from notifications.services import MAX_ATTEMPTS, DeliveryFailed

# Backoff stays well under the broker's visibility timeout (one hour).
BACKOFF_SECONDS = (30, 120, 480, 1200)


@shared_task(bind=True, acks_late=True, max_retries=MAX_ATTEMPTS)
def send_delivery(self, delivery_id: int) -> str:
    """Sends one recorded delivery; safe to run twice (the row says if it was sent)."""
    if self.request.is_eager:
        # Run inside a web request (no broker): try again at once rather than raise
        # a retry into the page. A mail that still fails is recorded as failed.
        for _attempt in range(MAX_ATTEMPTS):
            try:
                return services.delivery_send(delivery_id=delivery_id)
            except DeliveryFailed:
                continue
        return "failed"
    try:
        return services.delivery_send(delivery_id=delivery_id)
    except DeliveryFailed as error:
        delay = BACKOFF_SECONDS[min(self.request.retries, len(BACKOFF_SECONDS) - 1)]
        raise self.retry(exc=error, countdown=delay) from error


@shared_task(acks_late=True)
def schedule_digests(period: str) -> int:
    return len(services.digests_schedule(period=period).created)


@shared_task(acks_late=True)
def schedule_reminders() -> int:
    return services.reminders_schedule()
