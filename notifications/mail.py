"""Digest mail, put together for volume.

A digest run sends thousands of mails that differ only in their greeting, recipient
and unsubscribe link. Django's `EmailMessage.message()` builds each with the standard
library's modern email API, which creates a header class per header and encodes
quoted-printable in pure Python: about 7 ms of CPU for a 10 KB digest, more than
everything else a mail costs together. A `DigestMail` is an ordinary
`EmailMultiAlternatives` (every mail backend sends it, the test backend keeps it)
whose `message()` assembles the same MIME structure, multipart/alternative with a
quoted-printable text and HTML part, with the compat32 API and the C encoder in
`binascii`: about a millisecond.

It takes that route only for what it can encode exactly: ASCII headers without line
breaks, UTF-8 bodies, one HTML alternative, no attachments. Anything else goes through
Django's own `message()`, which validates and encodes it (and refuses a header with a
line break).
"""

import binascii
import contextlib
import email.policy
import re
import secrets
import smtplib
import socket
from email.message import Message
from email.utils import formatdate, make_msgid

from django.conf import settings
from django.core.mail import DNS_NAME, EmailMultiAlternatives

MIME_LINE_LIMIT = 998  # RFC 5322: no header line is longer, so none needs folding


class _PlainHeaders(email.policy.Compat32):
    """compat32, writing each header as given: DigestMail only ever sets ASCII values
    without line breaks, shorter than the line limit, so folding has nothing to do."""

    def _fold(self, name, value, sanitize):
        return f"{name}: {value}{self.linesep}"


def _quoted_printable(text: str) -> str:
    # Every line end as LF, lone CRs included: none may reach SMTP as a bare CR.
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, quotetabs=False, istext=True, header=False).decode("ascii")


def _text_part(text: str, subtype: str, policy) -> Message:
    part = Message(policy=policy)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(_quoted_printable(text))
    return part


def _plain(value: str) -> bool:
    return (
        value.isascii()
        and "\r" not in value
        and "\n" not in value
        and len(value) < MIME_LINE_LIMIT - 100
    )


class DigestMail(EmailMultiAlternatives):
    def _headers(self) -> list[tuple[str, str]] | None:
        """The headers, or None when one needs Django's validation or encoding."""
        if self.cc or self.reply_to or self.attachments or len(self.alternatives) != 1:
            return None
        if self.alternatives[0].mimetype != "text/html":
            return None
        if (self.encoding or settings.DEFAULT_CHARSET).lower().replace("_", "-") != "utf-8":
            return None
        extra = {name.lower(): value for name, value in self.extra_headers.items()}
        if {"from", "to", "cc", "reply-to", "bcc"} & extra.keys():
            return None
        headers = [
            ("Subject", str(self.subject)),
            ("From", str(self.from_email)),
            ("To", ", ".join(self.to)),
        ]
        if "date" not in extra:
            headers.append(("Date", formatdate(localtime=settings.EMAIL_USE_LOCALTIME)))
        if "message-id" not in extra:
            headers.append(("Message-ID", make_msgid(domain=DNS_NAME)))
        headers += [(name, str(value)) for name, value in self.extra_headers.items()]
        if not all(_plain(name) and _plain(value) for name, value in headers):
            return None
        return headers

    def smtp_bytes(self) -> bytes:
        """The mail as it goes over SMTP (CRLF line ends): the MIME structure of
        `message()`, written out in one join instead of through the email package's
        generator, which makes a call per line (a third of a digest's sending CPU in
        bench/digests.py). Anything `message()` would hand to Django takes that path."""
        headers = self._headers()
        if headers is None:
            return self.message(policy=email.policy.SMTP).as_bytes()
        boundary = "=_" + secrets.token_hex(8)
        lines = [
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
            *(f"{name}: {value}" for name, value in headers),
            "",
        ]
        for subtype, text in (("plain", self.body), ("html", self.alternatives[0].content)):
            lines += [
                f"--{boundary}",
                f'Content-Type: text/{subtype}; charset="utf-8"',
                "Content-Transfer-Encoding: quoted-printable",
                "",
                _quoted_printable(text).replace("\n", "\r\n"),
            ]
        lines.append(f"--{boundary}--")
        return ("\r\n".join(lines) + "\r\n").encode("ascii")

    def message(self, *, policy=email.policy.default):
        headers = self._headers()
        if headers is None:
            return super().message(policy=policy)
        mail_policy = _PlainHeaders(linesep=policy.linesep, max_line_length=MIME_LINE_LIMIT)
        message = Message(policy=mail_policy)
        message["MIME-Version"] = "1.0"
        # "=_" never occurs in quoted-printable text, so no part can contain it.
        boundary = "=_" + secrets.token_hex(8)
        message["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
        for name, value in headers:
            message[name] = value
        message.attach(_text_part(self.body, "plain", mail_policy))
        message.attach(_text_part(self.alternatives[0].content, "html", mail_policy))
        return message


def send_handing_over(backend, message, *, before_end) -> None:
    """Sends one message over an open SMTP backend, as its `send_messages` would, but
    calls `before_end()` once the server has all of the message except the final
    "." line, and only then sends that line. If `before_end` returns False (its
    record no longer applies) the mail is cut off instead (NotHandedOver); if the
    server's answer to the last line is lost, AnswerLost: the record stands.

    An SMTP server delivers nothing of a transaction whose connection closes before
    that line (RFC 5321, 4.1.1.4). So whatever `before_end` commits (the delivery's
    "sent") is on record before the server can accept the mail, and a worker killed at
    any moment before it leaves a mail that was not delivered. What stays uncertain is
    the instant between that commit and one socket write, not the server's reply and a
    database round trip as when "sent" is recorded after the answer. A refusal after
    the "." raises SMTPDataError, as smtplib does, for the caller to undo its record.
    """
    connection = backend.connection
    recipients = [backend.prep_address(address) for address in message.recipients()]
    if not recipients:
        raise ValueError("The mail has no recipient address.")
    sender = backend.prep_address(message.from_email)
    if isinstance(message, DigestMail):
        data = message.smtp_bytes()
    else:
        data = message.message(policy=email.policy.SMTP).as_bytes()
    connection.ehlo_or_helo_if_needed()
    if connection.sock is not None:
        # The last line is a write of its own after the body: without TCP_NODELAY,
        # Nagle's algorithm holds it until the server acknowledges the body, which a
        # delayed ACK can put off by 40 ms.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    code, reply = connection.mail(sender)
    if code != 250:
        _reset(connection)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for recipient in recipients:
        code, reply = connection.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if len(refused) == len(recipients):
        _reset(connection)
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = connection.docmd("data")
    if code != 354:
        _reset(connection)
        raise smtplib.SMTPDataError(code, reply)
    body = _DOT_AT_LINE_START.sub(b"..", data)  # dot-stuffing, as smtplib does
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    connection.send(body)
    try:
        recorded = before_end()
    except BaseException:
        _abandon(backend)  # mid-DATA: the server drops the unfinished mail
        raise
    if recorded is False:  # someone else has this mail now: it must not go out here
        _abandon(backend)
        raise NotHandedOver("The delivery was taken over before its last line was sent.")
    connection.send(b".\r\n")
    try:
        code, reply = connection.getreply()
    except (smtplib.SMTPServerDisconnected, OSError) as error:
        # The server has the whole mail; whether it took it is unknown. It stays on
        # record as sent: sending it again could deliver it twice.
        _abandon(backend)
        raise AnswerLost(str(error)) from error
    if code != 250:
        _reset(connection)
        raise smtplib.SMTPDataError(code, reply)


_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


class NotHandedOver(Exception):
    """The mail was cut off before its last line: nothing was delivered."""


class AnswerLost(Exception):
    """The last line went out but the server's answer did not come back."""


def _abandon(backend) -> None:
    """Drops the connection, so the backend opens a new one for the next mail."""
    with contextlib.suppress(OSError, smtplib.SMTPException):
        backend.connection.close()
    backend.connection = None


def _reset(connection) -> None:
    # As smtplib does after a refusal: the connection stays usable for the next mail.
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        connection.rset()
