from celery import shared_task

from concerns.services import deadlines_enforce, publication_batch


@shared_task(acks_late=True)
def enforce_response_deadlines() -> int:
    """Hourly: records missed response deadlines. Guarded, so a retry is harmless."""
    return deadlines_enforce()


@shared_task(acks_late=True)
def publish_batch() -> int:
    """At PUBLICATION_BATCH_HOURS: approved anonymous concerns and held announcements
    go out together, shuffled. Handled items stop waiting, so a retry is harmless."""
    batch = publication_batch()
    return batch.published + batch.announced
