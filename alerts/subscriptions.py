"""Subscriptions: who gets which alerts, how and when.

A subscription has one channel (an email address, or a webhook URL with one or more signing secrets
— several while a secret is rotated), the alert kinds it wants, filters (metrics, places, outlets,
minimum value, keywords; each empty filter lets everything through) and a cadence: ``instant``,
``hourly`` digest, ``daily`` digest at a local time (``at`` + ``timezone``), or ``digest`` (the
scheduler's digest job, ``settings.digest_schedule``; what TOML subscribers with cadence "digest" get).

Subscriptions made with the CLI or the API live in Redis (hash ``SUBSCRIPTIONS_KEY``, id -> JSON).
Subscribers from the TOML config are read-only subscriptions: listed, delivered to, unsubscribable
(one-click or a 410 from their webhook: recorded in ``SUBSCRIPTIONS_DISABLED_KEY``), never edited.

Validation is one pydantic model, :class:`Subscription`; :func:`parse` turns its errors into a
:class:`SubscriptionError` listing ``(field, message)`` pairs (the CLI prints the first as one line,
the API answers 422 with the field names).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets as secrets_lib
import time
from typing import Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from alerts.models import KINDS, LABELS, Alert
from tallywatch.config import Config, Subscriber
from tallywatch.store import BOUNCES_KEY, SUBSCRIPTIONS_DISABLED_KEY, SUBSCRIPTIONS_KEY

CADENCES = ("instant", "hourly", "daily", "digest")
METRICS = tuple(LABELS)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$"
_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,}$|^[^@\s<>]+@localhost$")
# after this many 5xx answers in a row from its mail server, an address is failing: no more mail
BOUNCE_LIMIT = 3


class SubscriptionError(ValueError):
    """Invalid input, a missing or read-only subscription: ``errors`` = [(field, message)]."""

    def __init__(self, errors: list[tuple[str, str]], status: int = 422):
        self.errors = errors
        self.status = status
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in errors))


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets_lib.token_bytes(32)).decode()


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT))


_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class SubscriptionIn(BaseModel):
    """One subscription as given to the API / CLI."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, description="letters, digits, and _ . @ + - (up to 64)")
    email: str | None = Field(None, description="email channel: the address")
    webhook: str | None = Field(None, description="webhook channel: an http(s) URL")
    secrets: list[str] = Field(default_factory=list, description="webhook signing secrets (whsec_...), "
                               "newest first; each signs (rotation). One is generated when none is given.")
    kinds: list[Literal["record", "changed", "diverging"]] = Field(default_factory=lambda: list(KINDS),
                                                                   min_length=1)
    metrics: list[str] = Field(default_factory=list, description=f"only these metrics: {', '.join(METRICS)}")
    places: list[str] = Field(default_factory=list, description="only these places (case-insensitive)")
    outlets: list[str] = Field(default_factory=list, description="only alerts involving these outlets")
    min_value: float | None = Field(None, ge=0, description="only alerts with a figure at least this large")
    keywords: list[str] = Field(default_factory=list, description="only alerts whose text has one of these")
    cadence: Literal["instant", "hourly", "daily", "digest"] = "instant"
    at: str | None = Field(None, description="daily digest: local time HH:MM (default 07:00)")
    timezone: str = Field("UTC", description="daily digest: IANA time zone, e.g. Europe/Kyiv")

    @field_validator("email")
    @classmethod
    def _email(cls, v):
        if v is not None and not _EMAIL.match(v.strip()):
            raise ValueError(f"{v!r} is not an email address")
        return v.strip() if v else None

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, v, info: ValidationInfo):
        if v is None:
            return v
        try:
            parsed = urlparse(v)
            host = parsed.hostname
        except ValueError:
            raise ValueError(f"{v!r} is not a URL") from None
        if parsed.scheme not in ("http", "https") or not host:
            raise ValueError(f"{v!r} is not an http(s) URL")
        if parsed.username or parsed.password:
            raise ValueError("credentials in the URL are not allowed; sign with the secret instead")
        # no context: FastAPI's first parse; the endpoint validates again with the setting
        if info.context is not None and not info.context.get("allow_private"):
            try:
                literal = ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                literal = None
            if (literal is not None and not is_public_address(str(literal))) or host.lower() == "localhost" \
                    or host.lower().endswith((".localhost", ".local", ".internal")):
                raise ValueError(f"{host} is a loopback/private/link-local address "
                                 "(allowed only with settings.allow_private_webhooks)")
        return v

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, v):
        from standardwebhooks import Webhook

        for s in v:
            try:
                Webhook(s)
            except Exception:
                raise ValueError("each secret must be base64, optionally prefixed whsec_") from None
        if len(set(v)) != len(v):
            raise ValueError("duplicate secret")
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v):
        bad = [m for m in v if m not in METRICS]
        if bad:
            raise ValueError(f"unknown metric(s) {', '.join(map(repr, bad))}; known: {', '.join(METRICS)}")
        return v

    @field_validator("places", "outlets", "keywords")
    @classmethod
    def _words(cls, v):
        v = [" ".join(w.split()) for w in v]
        if any(not w for w in v):
            raise ValueError("empty entry")
        return v

    @field_validator("at")
    @classmethod
    def _at(cls, v):
        if v is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
            raise ValueError(f"{v!r} is not a time HH:MM (00:00-23:59)")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v):
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. Europe/Kyiv)") from None
        return v

    @model_validator(mode="after")
    def _channel(self):
        if bool(self.email) == bool(self.webhook):
            raise ValueError("give exactly one channel: 'email' or 'webhook'")
        if self.email and self.secrets:
            raise ValueError("'secrets' are for webhooks only")
        if self.at and self.cadence != "daily":
            raise ValueError("'at' is for the daily cadence only")
        if self.cadence == "daily" and not self.at:
            self.at = "07:00"
        return self


class Subscription(SubscriptionIn):
    """A subscription as stored: the input plus what the server sets."""

    created_at: float = 0.0
    source: Literal["api", "cli", "config"] = "api"

    # -- derived ------------------------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        return self.source == "config"

    @property
    def channel(self) -> str:
        return f"email {self.email}" if self.email else f"webhook {self.webhook}"

    def public(self) -> dict:
        """As shown by the API and the CLI: no secrets, only how many there are."""
        d = self.model_dump(exclude={"secrets"})
        if self.webhook:
            d["secrets"] = len(self.secrets)
        d["read_only"] = self.read_only
        return d


def _field_name(loc: tuple) -> str:
    names = [str(x) for x in loc if not isinstance(x, int)]
    return ".".join(names) or ""


def parse(data: dict, *, allow_private: bool = False, source: str = "api", now: float | None = None
          ) -> Subscription:
    """Validate ``data`` into a Subscription (a webhook without secrets gets a new one)."""
    data = {k: v for k, v in data.items() if k not in ("created_at", "source")}
    try:
        sub = Subscription.model_validate({**data, "source": source, "created_at": now or time.time()},
                                          context={"allow_private": allow_private})
    except ValidationError as e:
        errs = []
        for err in e.errors():
            msg = err["msg"].removeprefix("Value error, ")
            errs.append((_field_name(err["loc"]), msg))
        raise SubscriptionError(errs) from None
    if sub.cadence == "digest" and source != "config":
        raise SubscriptionError([("cadence", "use 'instant', 'hourly' or 'daily' ('digest' is the config file's "
                                             "schedule-driven digest)")])
    if sub.webhook and not sub.secrets:
        sub.secrets = [new_secret()]
    return sub


def from_subscriber(s: Subscriber) -> Subscription:
    """A TOML subscriber as a read-only subscription (not re-validated: the config loader did)."""
    return Subscription.model_construct(
        id=s.id, email=s.email, webhook=s.webhook, secrets=[s.secret] if s.secret else [], kinds=list(s.kinds),
        metrics=[], places=[], outlets=[], min_value=None, keywords=[], cadence=s.cadence, at=None,
        timezone="UTC", created_at=0.0, source="config")


# -- storage --------------------------------------------------------------------------------------


def _load(raw: str) -> Subscription:
    return Subscription.model_validate_json(raw, context={"allow_private": True})


def stored(redis) -> dict[str, Subscription]:
    return {sid: _load(raw) for sid, raw in redis.hgetall(SUBSCRIPTIONS_KEY).items()}


def disabled(redis) -> dict[str, dict]:
    return {sid: json.loads(raw) for sid, raw in redis.hgetall(SUBSCRIPTIONS_DISABLED_KEY).items()}


def all_subscriptions(redis, config: Config, *, include_disabled: bool = False) -> list[Subscription]:
    """Config subscribers (read-only) then stored ones; turned-off config subscribers left out."""
    off = disabled(redis) if not include_disabled else {}
    subs = [from_subscriber(s) for s in config.subscribers if s.id not in off]
    taken = {s.id for s in config.subscribers}
    subs += [s for sid, s in sorted(stored(redis).items()) if sid not in taken]
    return subs


def get(redis, config: Config, sid: str) -> Subscription | None:
    for s in config.subscribers:
        if s.id == sid:
            return None if redis.hexists(SUBSCRIPTIONS_DISABLED_KEY, sid) else from_subscriber(s)
    raw = redis.hget(SUBSCRIPTIONS_KEY, sid)
    return _load(raw) if raw else None


def create(redis, config: Config, sub: Subscription, *, replace: bool = False) -> Subscription:
    if any(s.id == sub.id for s in config.subscribers):
        raise SubscriptionError([("id", f"{sub.id!r} is a subscriber of the config file (read-only)")], 409)
    raw = sub.model_dump_json()
    if replace:
        old = redis.hget(SUBSCRIPTIONS_KEY, sub.id)
        if old:
            sub.created_at = _load(old).created_at
            raw = sub.model_dump_json()
        redis.hset(SUBSCRIPTIONS_KEY, sub.id, raw)
    elif not redis.hsetnx(SUBSCRIPTIONS_KEY, sub.id, raw):
        raise SubscriptionError([("id", f"subscription {sub.id!r} exists")], 409)
    redis.hdel(BOUNCES_KEY, sub.id)
    return sub


def remove(redis, config: Config, sid: str, reason: str = "unsubscribed") -> bool:
    """Unsubscribe: delete a stored subscription, turn off a config one. False if there was none."""
    if any(s.id == sid for s in config.subscribers):
        return bool(redis.hset(SUBSCRIPTIONS_DISABLED_KEY, sid, json.dumps({"at": time.time(), "reason": reason})))
    return bool(redis.hdel(SUBSCRIPTIONS_KEY, sid))


# -- bounces --------------------------------------------------------------------------------------


def note_bounce(redis, sid: str) -> int:
    return int(redis.hincrby(BOUNCES_KEY, sid, 1))


def clear_bounces(redis, sid: str) -> None:
    redis.hdel(BOUNCES_KEY, sid)


def is_failing(redis, sid: str, limit: int = BOUNCE_LIMIT) -> bool:
    return int(redis.hget(BOUNCES_KEY, sid) or 0) >= limit


# -- matching -------------------------------------------------------------------------------------


def _numbers(alert: Alert) -> list[float]:
    nums = [v.get("value") for v in alert.values]
    if alert.change:
        nums += [alert.change.get("new"), alert.change.get("old")]
    return [float(n) for n in nums if isinstance(n, int | float) and not isinstance(n, bool)]


def matches(sub: Subscription, alert: Alert) -> bool:
    """Does the alert pass the subscription's kinds and filters?"""
    if alert.kind not in sub.kinds:
        return False
    if sub.metrics and alert.metric not in sub.metrics:
        return False
    if sub.places and alert.place.casefold() not in {p.casefold() for p in sub.places}:
        return False
    if sub.outlets:
        involved = {alert.outlet.casefold(), *(str(v.get("outlet", "")).casefold() for v in alert.values)}
        if not involved & {o.casefold() for o in sub.outlets}:
            return False
    if sub.min_value is not None and not any(n >= sub.min_value for n in _numbers(alert)):
        return False
    if sub.keywords:
        text = " ".join([alert.title, alert.sentence, alert.place, alert.outlet,
                         *(str(v.get("sentence", "")) for v in alert.values)]).casefold()
        if not any(k.casefold() in text for k in sub.keywords):
            return False
    return True
