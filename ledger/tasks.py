from celery import shared_task

from ledger.services import ledger_flush_deferred, ledger_head_publish


@shared_task(acks_late=True)
def flush_deferred_entries() -> int:
    return ledger_flush_deferred()


@shared_task(acks_late=True)
def publish_head() -> int:
    published = ledger_head_publish()
    return published.sequence if published else 0
