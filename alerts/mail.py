"""Email over SMTP (stdlib smtplib): one multipart/alternative message (text + HTML) per batch of
alerts for one subscriber. The Message-ID is derived from the alert keys, so a resend after a crash
is recognisable as the same message. With an unsubscribe URL the message carries RFC 8058 one-click
headers (List-Unsubscribe + List-Unsubscribe-Post).

Failures are :class:`MailError` with the SMTP ``code`` when the server answered; a 5xx refusal of the
recipient or the message is a ``bounce`` (the caller counts it towards marking the address failing),
4xx, other errors and connection trouble are retried. :class:`Mailer` keeps one connection open across
several messages (a delivery pass) and reconnects after a failure."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr

from alerts.models import Alert
from alerts.render import render_email
from tallywatch.config import SmtpSettings, Subscriber

# Headers up to RFC 5322's hard limit on one line: the stdlib otherwise folds a 79-200 character
# subject onto a continuation line, which some readers show with a leading space.
POLICY = SMTP_POLICY.clone(max_line_length=998)


class MailError(Exception):
    """Sending failed; the alerts stay undelivered for a later attempt."""

    def __init__(self, message: str, code: int | None = None, recipient: bool = False):
        super().__init__(message)
        self.code = code
        self.recipient = recipient  # the answer was about the recipient or the message, not the session

    @property
    def permanent(self) -> bool:
        return self.code is not None and 500 <= self.code < 600

    @property
    def bounce(self) -> bool:
        """A 5xx refusal of the recipient or the message: counts towards marking the address failing."""
        return self.permanent and self.recipient


def message_id(alert_keys: list[str], subscriber_id: str, sender: str) -> str:
    digest = hashlib.sha256("\n".join([subscriber_id, *sorted(alert_keys)]).encode("utf-8")).hexdigest()[:32]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "tallywatch.localhost"
    return f"<{digest}@{domain}>"


def build_message(
    alerts: list[Alert], subscriber: Subscriber, smtp: SmtpSettings, *, public_url: str = "",
    digest: bool = False, now: datetime | None = None, unsubscribe_url: str = "",
) -> EmailMessage:
    if not subscriber.email:
        raise ValueError(f"subscriber {subscriber.id!r} has no email address")
    subject, text, html = render_email(
        alerts, subscriber_id=subscriber.id, public_url=public_url, digest=digest, unsubscribe_url=unsubscribe_url)
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject
    msg["From"] = smtp.sender
    msg["To"] = subscriber.email
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = message_id([a.key for a in alerts], subscriber.id, smtp.sender)
    msg["X-Tallywatch-Alerts"] = ",".join(sorted(a.key for a in alerts))[:900]
    msg["Auto-Submitted"] = "auto-generated"
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def _error(smtp: SmtpSettings, e: Exception) -> MailError:
    code = None
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in e.recipients.values()]
        code = max(codes) if codes else None
    elif isinstance(e, smtplib.SMTPResponseException):
        code = e.smtp_code
    recipient = isinstance(e, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError)
    return MailError(f"SMTP {smtp.host}:{smtp.port}: {e}", code if isinstance(code, int) and code >= 400 else None,
                     recipient)


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    if smtp.tls == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    try:
        if smtp.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
    except BaseException:
        client.close()
        raise
    return client


class Mailer:
    """One SMTP connection reused for several messages; ``with Mailer(smtp) as m: m.send(msg)``."""

    def __init__(self, smtp: SmtpSettings):
        self.smtp = smtp
        self.client: smtplib.SMTP | None = None

    def send(self, msg: EmailMessage) -> None:
        if self.client is not None:  # a kept connection the server may have dropped meanwhile
            try:
                if self.client.noop()[0] != 250:
                    self.close()
            except (OSError, smtplib.SMTPException):
                self.close()
        try:
            if self.client is None:
                self.client = _connect(self.smtp)
            refused = self.client.send_message(msg)
        except (OSError, smtplib.SMTPException) as e:
            if not isinstance(e, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError
                              | smtplib.SMTPSenderRefused):
                self.close()  # the connection is in doubt
            else:
                self._reset()
            raise _error(self.smtp, e) from e
        if refused:  # only with several recipients; we send to one
            raise MailError(f"SMTP {self.smtp.host}:{self.smtp.port}: refused {refused}")

    def _reset(self) -> None:
        try:
            self.client.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (OSError, smtplib.SMTPException):
                self.client.close()
            self.client = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def send_message(msg: EmailMessage, smtp: SmtpSettings) -> None:
    """Send with the configured transport: tls "none" (plain), "starttls" or "ssl"; log in when a
    username is set. Any failure raises MailError."""
    with Mailer(smtp) as mailer:
        mailer.send(msg)


def send_alerts_email(
    alerts: list[Alert], subscriber: Subscriber, smtp: SmtpSettings, *, public_url: str = "",
    digest: bool = False, now: datetime | None = None,
) -> EmailMessage:
    msg = build_message(alerts, subscriber, smtp, public_url=public_url, digest=digest, now=now)
    send_message(msg, smtp)
    return msg
