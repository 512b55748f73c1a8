"""One-click unsubscribe tokens (RFC 8058): ``<base64url(id)>.<base64url(HMAC-SHA256(secret, id))>``.

The server secret is ``$TALLYWATCH_SECRET_KEY`` when set, else 32 random bytes kept in Redis
(``SERVER_SECRET_KEY``, made once with SET NX): tokens cannot be guessed or forged without it, need
no storage, and survive restarts. The MAC covers the subscription's ``created_at``, so the link of an
earlier subscription under the same id does not unsubscribe a newer one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from urllib.parse import quote

from tallywatch.store import SERVER_SECRET_KEY

SECRET_ENV = "TALLYWATCH_SECRET_KEY"


def server_secret(redis) -> bytes:
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode("utf-8")
    redis.set(SERVER_SECRET_KEY, secrets.token_hex(32), nx=True)
    return redis.get(SERVER_SECRET_KEY).encode("ascii")


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode("ascii").rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _mac(secret: bytes, sid: str, created_at: float) -> bytes:
    return hmac.new(secret, f"unsubscribe\x00{sid}\x00{created_at:.6f}".encode(), hashlib.sha256).digest()


def make_token(redis_or_secret, sid: str, created_at: float = 0.0) -> str:
    """The token for subscription ``sid``; give a Redis client, or the server secret itself."""
    secret = redis_or_secret if isinstance(redis_or_secret, bytes) else server_secret(redis_or_secret)
    return f"{_b64(sid.encode('utf-8'))}.{_b64(_mac(secret, sid, created_at))}"


def token_subscriber(token: str) -> str | None:
    """The subscription id a token names (not yet verified), or None if it is malformed."""
    try:
        head, _, _ = (token or "").partition(".")
        return _unb64(head).decode("utf-8") or None
    except (ValueError, UnicodeDecodeError):
        return None


def verify(redis, token: str, created_at: float = 0.0) -> bool:
    sid = token_subscriber(token)
    if sid is None or "." not in token:
        return False
    try:
        mac = _unb64(token.partition(".")[2])
    except ValueError:
        return False
    return hmac.compare_digest(mac, _mac(server_secret(redis), sid, created_at))


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/unsubscribe?token={quote(token, safe='')}"
