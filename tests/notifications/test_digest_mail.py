"""A digest mail is put together without the standard library's slow path, and a mail
client still reads exactly what was written: accents, quotes, long lines, the HTML part
and every header. Headers it cannot write plainly go through Django's own checks."""

import email.policy
from email import message_from_bytes

import pytest

from notifications.mail import DigestMail

TEXT = (
    "Hello Zoë Ørsted,\n\n"
    "- “Crèche places” for night staff (12 votes)\n"
    "  = 3 leaders; a line that goes on " + "and on " * 30 + "\n"
    ".\n"
    "Unsubscribe in one click: http://127.0.0.1:8000/unsubscribe/eyJwZXJzb24iOjR9:1x:PAf/\n"
)
HTML = "<p>Hello Zoë Ørsted,</p>\n<ul><li>" + "“Crèche” " * 200 + "</li></ul>\n"


def digest_mail(**overrides) -> DigestMail:
    fields = {
        "subject": "Your weekly Answerable digest",
        "body": TEXT,
        "to": ["zoe@example.test"],
        "headers": {
            "List-Unsubscribe": "<http://127.0.0.1:8000/unsubscribe/abc/>",
            "Message-ID": "<delivery-7@answerable.localhost>",
        },
    } | overrides
    mail = DigestMail(**fields)
    mail.attach_alternative(HTML, "text/html")
    return mail


WRITTEN_BY = {"way": "message"}


@pytest.fixture(params=["message", "smtp_bytes"], autouse=True)
def _both_ways_of_writing(request):
    """Every test reads the mail as Django's SMTP backend writes it (`message()`) and as
    Answerable's hand-over writes it (`smtp_bytes()`, notifications.mail)."""
    WRITTEN_BY["way"] = request.param
    yield
    WRITTEN_BY["way"] = "message"


def as_received(mail: DigestMail):
    """The bytes sent over SMTP, parsed as a mail client parses them."""
    if WRITTEN_BY["way"] == "smtp_bytes":
        sent = mail.smtp_bytes()
    else:
        sent = mail.message(policy=email.policy.SMTP).as_bytes()
    return sent, message_from_bytes(sent, policy=email.policy.default)


def test_a_mail_client_reads_both_parts_exactly_as_written():
    sent, received = as_received(digest_mail())

    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == TEXT
    assert received.get_body(("html",)).get_content().replace("\r\n", "\n") == HTML
    assert max(len(line) for line in sent.split(b"\r\n")) <= 78
    assert sent.isascii()


def test_the_headers_arrive_as_given():
    _, received = as_received(digest_mail())

    assert received["Subject"] == "Your weekly Answerable digest"
    assert received["From"] == "Answerable <answerable@localhost>"
    assert received["To"] == "zoe@example.test"
    assert received["Message-ID"] == "<delivery-7@answerable.localhost>"
    assert received["List-Unsubscribe"] == "<http://127.0.0.1:8000/unsubscribe/abc/>"
    assert received["MIME-Version"] == "1.0"
    assert received["Date"].datetime is not None


def test_a_subject_with_accents_is_encoded_by_django():
    _, received = as_received(digest_mail(subject="Ihr wöchentlicher Überblick"))

    assert received["Subject"] == "Ihr wöchentlicher Überblick"
    assert received.get_body(("plain",)).get_content().replace("\r\n", "\n") == TEXT


def test_a_header_with_a_line_break_is_refused():
    mail = digest_mail(subject="Digest\r\nBcc: everyone@example.test")

    with pytest.raises(ValueError):
        as_received(mail)
