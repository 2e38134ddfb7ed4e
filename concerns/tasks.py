from celery import shared_task

from concerns.services import deadlines_enforce


@shared_task(acks_late=True)
def enforce_response_deadlines() -> int:
    """Hourly: records missed response deadlines. Guarded, so a retry is harmless."""
    return deadlines_enforce()
