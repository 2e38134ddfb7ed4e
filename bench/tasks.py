"""Celery tasks for the digest benchmark's baseline only, loaded into the workers with
`--include bench.tasks`: a bare mail through the same worker pool, broker, mail
backend and SMTP sink as a digest, without the product's work around it."""

from celery import shared_task
from django.core.mail import EmailMessage


@shared_task(acks_late=True)
def bare_mail(n: int) -> str:
    EmailMessage(
        subject=f"bench bare mail {n}",
        body="bare",
        to=[f"bare-{n}@bench.example"],
        headers={"Message-ID": f"<bare-{n}@bench.example>"},
    ).send()
    return "sent"
