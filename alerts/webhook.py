"""Webhooks: a JSON POST signed per Standard Webhooks (headers webhook-id, webhook-timestamp,
webhook-signature; with several secrets — a rotation — one ``v1,<sig>`` per secret, space-separated).

Safety: the host is resolved and every address checked; a loopback, private, link-local, multicast or
reserved address is refused unless ``allow_private`` (``settings.allow_private_webhooks``). The
connection then goes to the checked address (no second lookup a DNS rebinding could change); no
redirect is followed; connect and each read are bounded by ``timeout``, the whole exchange by twice it.

Outcome: 2xx is success. 410 Gone raises :class:`WebhookGone` (the caller unsubscribes), 429 and 5xx
raise :class:`WebhookError` with ``retry_after`` from a Retry-After header, other 4xx raise with
``permanent`` set, as does a refused (private) address.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from alerts.models import Alert
from alerts.render import webhook_body
from alerts.subscriptions import is_public_address

log = logging.getLogger(__name__)
USER_AGENT = "tallywatch-webhooks/0.2"


class WebhookError(Exception):
    """The receiver did not accept the delivery."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 permanent: bool = False):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.permanent = permanent


class WebhookGone(WebhookError):
    """410 Gone: the receiver asks not to be sent anything again."""


class UnsafeTarget(WebhookError):
    """The URL resolves to an address webhooks may not go to."""


def sign_headers(secrets: str | list[str], msg_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    if isinstance(secrets, str):
        secrets = [secrets]
    ts = timestamp.astimezone(UTC)
    signature = " ".join(Webhook(s).sign(msg_id, ts, body) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def resolve_checked(host: str, port: int, allow_private: bool) -> list[str]:
    """Every address ``host`` resolves to; UnsafeTarget if any is not public (unless allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise WebhookError(f"cannot resolve {host}: {e}") from e
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow_private:
        bad = [a for a in addresses if not is_public_address(a.split("%")[0])]
        if bad:
            raise UnsafeTarget(f"{host} resolves to non-public address(es) {', '.join(bad)}: refused "
                               "(settings.allow_private_webhooks = true allows it)", permanent=True)
    return addresses


class _Pinned:
    def connect(self):  # noqa: D102
        sock = socket.create_connection((self._tw_ip, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock


class _PinnedHTTP(_Pinned, http.client.HTTPConnection):
    pass


class _PinnedHTTPS(http.client.HTTPSConnection):
    def connect(self):  # noqa: D102
        sock = socket.create_connection((self._tw_ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def post(url: str, secrets: str | list[str], msg_id: str, body: str, *, timeout: float = 10.0,
         timestamp: datetime | None = None, allow_private: bool = False) -> int:
    """POST ``body`` signed; returns the HTTP status, raises WebhookError unless it is 2xx."""
    timestamp = timestamp or datetime.now(UTC)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"{url}: not an http(s) URL", permanent=True)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve_checked(parts.hostname, port, allow_private)
    payload = body.encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Connection": "close",
               **sign_headers(secrets, msg_id, timestamp, body)}
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    last: Exception | None = None
    for ip in addresses:
        if parts.scheme == "https":
            conn = _PinnedHTTPS(parts.hostname, port, timeout=timeout, context=ssl.create_default_context())
        else:
            conn = _PinnedHTTP(parts.hostname, port, timeout=timeout)
        conn._tw_ip = ip
        # ``timeout`` bounds each socket operation; this bounds the whole exchange (a receiver
        # dripping its answer a byte at a time): at the deadline the socket is shut down
        expired = threading.Event()

        def _expire(conn=conn, expired=expired):
            expired.set()
            if conn.sock is not None:
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        timer = threading.Timer(timeout * 2, _expire)
        timer.daemon = True
        timer.start()
        try:
            try:
                conn.request("POST", path, body=payload, headers=headers)
            except ConnectionRefusedError as e:
                last = e
                continue  # try the next address
            resp = conn.getresponse()
            resp.read(65536)
            if expired.is_set():  # cut off: what was read may look like an answer, it is not one
                raise OSError("cut off")
            status = resp.status
            retry_after = _retry_after(resp.getheader("Retry-After"))
        except (OSError, http.client.HTTPException) as e:  # timeout, reset, bad answer
            if expired.is_set():
                raise WebhookError(f"{url}: no complete answer within {timeout * 2:g} s") from e
            raise WebhookError(f"{url}: {type(e).__name__}: {e}") from e
        finally:
            timer.cancel()
            conn.close()
        if 200 <= status < 300:
            return status
        if status == 410:
            raise WebhookGone(f"{url}: HTTP 410 Gone", status=status, permanent=True)
        if status == 429 or status >= 500 or status == 408:
            raise WebhookError(f"{url}: HTTP {status}", status=status, retry_after=retry_after)
        raise WebhookError(f"{url}: HTTP {status}", status=status, permanent=300 <= status < 500)
    raise WebhookError(f"{url}: {last}")


def send_alert(alert: Alert, subscriber, *, timeout: float = 10.0, allow_private: bool = False,
               public_url: str = "") -> int:
    """Deliver one alert; webhook-id is the alert key, so the receiver can drop a repeat."""
    url, secrets = _channel(subscriber)
    now = datetime.now(UTC)
    return post(url, secrets, alert.key, webhook_body(alert, now, public_url=public_url),
                timeout=timeout, timestamp=now, allow_private=allow_private)


def send_digest(alerts: list[Alert], subscriber, msg_id: str, *, timeout: float = 10.0,
                allow_private: bool = False, public_url: str = "") -> int:
    """Deliver a digest (type "alert.digest") in one POST."""
    url, secrets = _channel(subscriber)
    now = datetime.now(UTC)
    return post(url, secrets, msg_id, webhook_body(alerts, now, public_url=public_url),
                timeout=timeout, timestamp=now, allow_private=allow_private)


def _channel(subscriber) -> tuple[str, list[str]]:
    secrets = list(getattr(subscriber, "secrets", None) or [])
    if not secrets and getattr(subscriber, "secret", None):
        secrets = [subscriber.secret]
    if not subscriber.webhook or not secrets:
        raise ValueError(f"subscriber {subscriber.id!r} has no webhook and secret")
    return subscriber.webhook, secrets

