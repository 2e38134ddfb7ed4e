from celery import shared_task

from responses.services import commitments_mark_missed


@shared_task(acks_late=True)
def mark_missed_commitments() -> int:
    """Hourly: marks open commitments past their due date as missed. Guarded by status."""
    return commitments_mark_missed()
