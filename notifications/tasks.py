from celery import shared_task

from notifications import services
from notifications.services import BACKOFF_SECONDS, MAX_ATTEMPTS, DeliveryFailed


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
        raise self.retry(exc=error, countdown=error.retry_in) from error


@shared_task(acks_late=True)
def send_deliveries(delivery_ids: list[int]) -> dict[str, int]:
    """Sends a batch of recorded deliveries over one SMTP connection; safe to run
    twice. A mail the server refused is retried alone after its backoff; when the
    connection broke, the untried rest of the batch is queued again."""
    outcome = services.deliveries_send(delivery_ids=delivery_ids)
    for delivery_id, (wait, _failure) in outcome.retry.items():
        send_delivery.apply_async((delivery_id,), countdown=wait)
    if outcome.deferred:
        send_deliveries.apply_async((outcome.deferred,), countdown=BACKOFF_SECONDS[0])
    return outcome.counts()


@shared_task(acks_late=True)
def sweep_deliveries() -> int:
    """Every minute: queues again the mail a lost worker left unsent."""
    return services.deliveries_requeue_stale()


@shared_task(acks_late=True)
def schedule_digests(period: str) -> int:
    return len(services.digests_schedule(period=period).created)


@shared_task(acks_late=True)
def schedule_reminders() -> int:
    return services.reminders_schedule()
