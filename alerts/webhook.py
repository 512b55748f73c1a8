"""Webhooks: a JSON POST signed per Standard Webhooks (headers webhook-id, webhook-timestamp,
webhook-signature). A non-2xx answer, a redirect, a timeout or a refused connection is a failure:
the alert stays undelivered for a later attempt."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from datetime import UTC, datetime

from standardwebhooks import Webhook

from alerts.models import Alert
from alerts.render import webhook_payload
from tallywatch.config import Subscriber

log = logging.getLogger(__name__)
USER_AGENT = "tallywatch-webhooks/0.1"


class WebhookError(Exception):
    """The receiver did not accept the delivery."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None  # a 3xx is not an acceptance: urllib raises HTTPError


_OPENER = urllib.request.build_opener(_NoRedirect)


def sign_headers(secret: str, msg_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, timestamp.astimezone(UTC), body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def post(url: str, secret: str, msg_id: str, body: str, *, timeout: float = 10.0,
         timestamp: datetime | None = None) -> int:
    """POST ``body`` signed; returns the HTTP status, raises WebhookError unless it is 2xx."""
    timestamp = timestamp or datetime.now(UTC)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               **sign_headers(secret, msg_id, timestamp, body)}
    req = urllib.request.Request(url, data=body.encode("utf-8"), headers=headers, method="POST")
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            status = resp.status
    except urllib.error.HTTPError as e:
        raise WebhookError(f"{url}: HTTP {e.code}") from e
    except (OSError, ValueError) as e:  # URLError, timeout, refused
        raise WebhookError(f"{url}: {e}") from e
    if not 200 <= status < 300:
        raise WebhookError(f"{url}: HTTP {status}")
    return status


def send_alert(alert: Alert, subscriber: Subscriber, *, timeout: float = 10.0) -> int:
    """Deliver one alert; webhook-id is the alert key, so the receiver can drop a repeat."""
    if not subscriber.webhook or not subscriber.secret:
        raise ValueError(f"subscriber {subscriber.id!r} has no webhook and secret")
    now = datetime.now(UTC)
    return post(subscriber.webhook, subscriber.secret, alert.key, webhook_payload(alert, now),
                timeout=timeout, timestamp=now)


def send_digest(alerts: list[Alert], subscriber: Subscriber, msg_id: str, *, timeout: float = 10.0) -> int:
    """Deliver a digest (type "alert.digest") in one POST."""
    if not subscriber.webhook or not subscriber.secret:
        raise ValueError(f"subscriber {subscriber.id!r} has no webhook and secret")
    now = datetime.now(UTC)
    return post(subscriber.webhook, subscriber.secret, msg_id, webhook_payload(alerts, now),
                timeout=timeout, timestamp=now)
