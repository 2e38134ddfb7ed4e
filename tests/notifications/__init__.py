"""Reading mail the way a person does: its parts, its headers and its links."""

import html
import re
from email.message import EmailMessage
from urllib.parse import urlsplit

from django.core import mail

from notifications.models import Delivery


def text_of(message) -> str:
    """The plain-text part of a delivered (email.message) or outboxed (Django) mail."""
    if isinstance(message, EmailMessage):
        return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    return message.body


def html_of(message) -> str:
    if isinstance(message, EmailMessage):
        return message.get_body(preferencelist=("html",)).get_content()
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return content


def visible(markup: str) -> str:
    """HTML as a reader sees it: no tags, runs of white space as one space."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def section(text: str, heading: str) -> list[str]:
    """The "- " lines of one section of the plain-text digest, top to bottom."""
    lines = text.splitlines()
    start = lines.index(heading) + 1
    items = []
    for line in lines[start:]:
        if not line.strip():
            break
        if line.startswith("- "):
            items.append(line[2:])
    return items


def unsubscribe_url(message: EmailMessage) -> str:
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<") and header.endswith(">"), header
    return header[1:-1]


def path_of(url: str) -> str:
    return urlsplit(url).path


def outbox_to(address: str) -> list:
    return [m for m in mail.outbox if address in m.to]


def outbox_recipients() -> list[str]:
    return sorted(address for m in mail.outbox for address in m.to)


def deliveries(**filters) -> list[Delivery]:
    return list(Delivery.objects.filter(**filters).order_by("pk"))
