"""Email over SMTP (stdlib smtplib): one multipart/alternative message (text + HTML) per batch of
alerts for one subscriber. The Message-ID is derived from the alert keys, so a resend after a crash
is recognisable as the same message."""

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


def message_id(alert_keys: list[str], subscriber_id: str, sender: str) -> str:
    digest = hashlib.sha256("\n".join([subscriber_id, *sorted(alert_keys)]).encode("utf-8")).hexdigest()[:32]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "tallywatch.localhost"
    return f"<{digest}@{domain}>"


def build_message(
    alerts: list[Alert], subscriber: Subscriber, smtp: SmtpSettings, *, public_url: str = "",
    digest: bool = False, now: datetime | None = None,
) -> EmailMessage:
    if not subscriber.email:
        raise ValueError(f"subscriber {subscriber.id!r} has no email address")
    subject, text, html = render_email(
        alerts, subscriber_id=subscriber.id, public_url=public_url, digest=digest)
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject
    msg["From"] = smtp.sender
    msg["To"] = subscriber.email
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = message_id([a.key for a in alerts], subscriber.id, smtp.sender)
    msg["X-Tallywatch-Alerts"] = ",".join(sorted(a.key for a in alerts))[:900]
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def send_message(msg: EmailMessage, smtp: SmtpSettings) -> None:
    """Send with the configured transport: tls "none" (plain), "starttls" or "ssl"; log in when a
    username is set. Any failure raises MailError."""
    try:
        if smtp.tls == "ssl":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as e:
        raise MailError(f"SMTP {smtp.host}:{smtp.port}: {e}") from e


def send_alerts_email(
    alerts: list[Alert], subscriber: Subscriber, smtp: SmtpSettings, *, public_url: str = "",
    digest: bool = False, now: datetime | None = None,
) -> EmailMessage:
    msg = build_message(alerts, subscriber, smtp, public_url=public_url, digest=digest, now=now)
    send_message(msg, smtp)
    return msg
