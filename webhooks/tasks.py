from celery import shared_task

from webhooks import services


@shared_task(acks_late=True)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt; a failed attempt is retried by the sweep at its backoff time."""
    return services.webhook_deliver(delivery_id=delivery_id)


@shared_task(acks_late=True)
def sweep_webhooks() -> int:
    return services.webhooks_sweep()
