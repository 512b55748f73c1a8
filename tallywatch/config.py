"""The TOML config: settings, sources to crawl, subscribers to alert.

Every validation error names the place and the field, e.g.
``sources[2] (id 'kyiv-local'): field 'url': must be an http(s) URL``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import platformdirs
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

SOURCE_KINDS = ("rss", "atom", "html")
ALERT_KINDS = ("record", "changed", "diverging")
CADENCES = ("instant", "digest")
SMTP_TLS = ("none", "starttls", "ssl")


class ConfigError(ValueError):
    """A config problem a user can fix; the message says where and what."""


@dataclass(frozen=True)
class Source:
    id: str
    outlet: str
    kind: str
    url: str
    schedule: str
    enabled: bool = True
    # html listing pages only: CSS selector of the article links on the page
    link_selector: str = "a::attr(href)"

    def trigger(self, timezone: str = "UTC"):
        return parse_schedule(self.schedule, timezone)


@dataclass(frozen=True)
class Subscriber:
    id: str
    email: str | None = None
    webhook: str | None = None
    secret: str | None = None
    kinds: tuple[str, ...] = ALERT_KINDS
    cadence: str = "instant"


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    tls: str = "none"
    username: str | None = None
    password: str | None = None
    sender: str = "tallywatch@localhost"
    timeout: float = 30.0


@dataclass(frozen=True)
class Settings:
    redis_url: str | None = None
    data_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir("tallywatch")))
    timezone: str = "UTC"
    public_url: str = "http://127.0.0.1:8080"
    records_csv: Path | None = None
    max_page_bytes: int = 5_000_000
    user_agent: str = "tallywatch/0.1 (+https://github.com/tallywatch/tallywatch)"
    digest_schedule: str = "0 7 * * *"
    webhook_timeout: float = 10.0
    sentry_dsn: str | None = None
    leader_ttl: float = 15.0  # seconds a dead leader's lock lasts before a standby takes over
    # seconds between two requests to one site; None = polite default (0.5 s, adapted by AutoThrottle)
    download_delay: float | None = None
    max_concurrent_crawls: int = 8  # crawls one process runs at the same time
    # who hears about the service itself (a source gone silent): email addresses
    operator_emails: tuple[str, ...] = ()
    # alert delivery: webhooks to loopback/private/link-local addresses are refused unless allowed (SSRF)
    allow_private_webhooks: bool = False
    email_rate_limit: int = 30  # emails per subscriber per hour; more wait for the next hour
    delivery_max_attempts: int = 8  # then the delivery goes to the dead-letter list
    api_token_env: str = "TALLYWATCH_API_TOKEN"  # env var with the API bearer token(s), comma-separated
    smtp: SmtpSettings = field(default_factory=SmtpSettings)


@dataclass(frozen=True)
class Config:
    settings: Settings
    sources: tuple[Source, ...]
    subscribers: tuple[Subscriber, ...]
    path: Path | None = None

    @property
    def enabled_sources(self) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if s.enabled)

    def source(self, source_id: str) -> Source:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise ConfigError(f"no source with id {source_id!r} in {self.path or 'config'}")


_INTERVAL = re.compile(r"^every\s+(\d+)\s*(s|sec|seconds?|m|min|minutes?|h|hours?)$", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def parse_schedule(text: str, timezone: str = "UTC", jitter: int | None = None):
    """``every 10m`` / ``every 30s`` / ``every 2h`` -> IntervalTrigger; a 5-field crontab -> CronTrigger.
    ``jitter``: up to this many seconds added at random to each fire time (spreads load)."""
    text = text.strip()
    m = _INTERVAL.match(text)
    if m:
        seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)[0].lower()]
        if seconds <= 0:
            raise ValueError("interval must be positive")
        return IntervalTrigger(seconds=seconds, timezone=timezone, jitter=jitter)
    if len(text.split()) != 5:
        raise ValueError(
            f"{text!r} is neither a 5-field cron expression ('*/10 * * * *') nor an interval ('every 10m')"
        )
    trigger = CronTrigger.from_crontab(text, timezone=timezone)
    trigger.jitter = jitter
    return trigger


def _where(kind: str, i: int, raw: dict) -> str:
    ident = raw.get("id")
    return f"{kind}[{i}]" + (f" (id {ident!r})" if ident else "")


def _require(raw: dict, key: str, where: str, typ=str):
    if key not in raw or raw[key] in (None, ""):
        raise ConfigError(f"{where}: field {key!r} is missing")
    value = raw[key]
    if not isinstance(value, typ):
        raise ConfigError(f"{where}: field {key!r} must be a {typ.__name__}, got {value!r}")
    return value


def _check_url(url: str, where: str, key: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{where}: field {key!r}: {url!r} is not an http(s) URL")


def _unknown(raw: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(map(repr, extra))}")


def _source(i: int, raw: dict, timezone: str) -> Source:
    where = _where("sources", i, raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    _unknown(raw, {"id", "outlet", "kind", "url", "schedule", "enabled", "link_selector"}, where)
    sid = _require(raw, "id", where)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", sid):
        raise ConfigError(f"{where}: field 'id': use letters, digits, '-', '_' or '.' only")
    kind = _require(raw, "kind", where)
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}: field 'kind': {kind!r} is not one of {', '.join(SOURCE_KINDS)}")
    url = _require(raw, "url", where)
    _check_url(url, where, "url")
    schedule = _require(raw, "schedule", where)
    try:
        parse_schedule(schedule, timezone)
    except ValueError as e:
        raise ConfigError(f"{where}: field 'schedule': {e}") from None
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}: field 'enabled' must be true or false")
    return Source(
        id=sid,
        outlet=raw.get("outlet") or sid,
        kind=kind,
        url=url,
        schedule=schedule,
        enabled=enabled,
        link_selector=raw.get("link_selector", "a::attr(href)"),
    )


def _secret(raw: dict, key: str, where: str) -> str | None:
    """A secret given inline or, better, as the name of an environment variable (``<key>_env``)."""
    if raw.get(f"{key}_env"):
        name = raw[f"{key}_env"]
        if name not in os.environ:
            raise ConfigError(f"{where}: field '{key}_env': environment variable {name!r} is not set")
        return os.environ[name]
    return raw.get(key)


def _subscriber(i: int, raw: dict) -> Subscriber:
    where = _where("subscribers", i, raw)
    _unknown(raw, {"id", "email", "webhook", "secret", "secret_env", "kinds", "cadence"}, where)
    sid = _require(raw, "id", where)
    email, webhook = raw.get("email"), raw.get("webhook")
    if bool(email) == bool(webhook):
        raise ConfigError(f"{where}: give exactly one of 'email' or 'webhook'")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
        raise ConfigError(f"{where}: field 'email': {email!r} is not an email address")
    secret = None
    if webhook:
        _check_url(webhook, where, "webhook")
        secret = _secret(raw, "secret", where)
        if not secret:
            raise ConfigError(f"{where}: a webhook needs 'secret' (or 'secret_env'), e.g. 'whsec_<base64>'")
    kinds = tuple(raw.get("kinds", ALERT_KINDS))
    for k in kinds:
        if k not in ALERT_KINDS:
            raise ConfigError(f"{where}: field 'kinds': {k!r} is not one of {', '.join(ALERT_KINDS)}")
    cadence = raw.get("cadence", "instant")
    if cadence not in CADENCES:
        raise ConfigError(f"{where}: field 'cadence': {cadence!r} is not one of {', '.join(CADENCES)}")
    return Subscriber(id=sid, email=email, webhook=webhook, secret=secret, kinds=kinds, cadence=cadence)


def _smtp(raw: dict) -> SmtpSettings:
    where = "smtp"
    _unknown(raw, {"host", "port", "tls", "username", "password", "password_env", "sender", "timeout"}, where)
    tls = raw.get("tls", "none")
    if tls not in SMTP_TLS:
        raise ConfigError(f"smtp: field 'tls': {tls!r} is not one of {', '.join(SMTP_TLS)}")
    port = raw.get("port", 465 if tls == "ssl" else 587 if tls == "starttls" else 25)
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"smtp: field 'port': {port!r} is not a port number")
    return SmtpSettings(
        host=raw.get("host", "localhost"),
        port=port,
        tls=tls,
        username=raw.get("username"),
        password=_secret(raw, "password", where),
        sender=raw.get("sender", "tallywatch@localhost"),
        timeout=float(raw.get("timeout", 30.0)),
    )


def _positive_int(raw: dict, key: str, default: int) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"settings: field {key!r} must be a positive whole number, got {value!r}")
    return value


def _emails(value, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and re.fullmatch(r"[^@\s]+@[^@\s]+", v)
                                               for v in values):
        raise ConfigError(f"{where}: give an email address or a list of them, got {value!r}")
    return tuple(values)


def _settings(raw: dict, smtp: SmtpSettings, base: Path) -> Settings:
    where = "settings"
    allowed = {
        "redis_url", "data_dir", "timezone", "public_url", "records_csv", "max_page_bytes",
        "user_agent", "digest_schedule", "webhook_timeout", "sentry_dsn", "leader_ttl",
        "download_delay", "allow_private_webhooks", "email_rate_limit", "delivery_max_attempts", "api_token_env",
        "operator_emails", "max_concurrent_crawls",
    }
    _unknown(raw, allowed, where)
    defaults = Settings()
    data_dir = Path(os.environ.get("TALLYWATCH_DATA_DIR") or raw.get("data_dir") or defaults.data_dir)
    records_csv = raw.get("records_csv")
    if records_csv:
        records_csv = (base / records_csv).resolve()
        if not records_csv.is_file():
            raise ConfigError(f"settings: field 'records_csv': no file at {records_csv}")
    timezone = raw.get("timezone", "UTC")
    digest = raw.get("digest_schedule", defaults.digest_schedule)
    try:
        parse_schedule(digest, timezone)
    except ValueError as e:
        raise ConfigError(f"settings: field 'digest_schedule': {e}") from None
    except Exception as e:  # unknown time zone
        raise ConfigError(f"settings: field 'timezone': {e}") from None
    return Settings(
        redis_url=os.environ.get("REDIS_URL") or raw.get("redis_url") or None,
        data_dir=data_dir.expanduser(),
        timezone=timezone,
        public_url=raw.get("public_url", defaults.public_url),
        records_csv=records_csv,
        max_page_bytes=int(raw.get("max_page_bytes", defaults.max_page_bytes)),
        user_agent=raw.get("user_agent", defaults.user_agent),
        digest_schedule=digest,
        webhook_timeout=float(raw.get("webhook_timeout", defaults.webhook_timeout)),
        sentry_dsn=os.environ.get("SENTRY_DSN") or raw.get("sentry_dsn") or None,
        leader_ttl=float(raw.get("leader_ttl", defaults.leader_ttl)),
        download_delay=float(raw["download_delay"]) if raw.get("download_delay") is not None else None,
        max_concurrent_crawls=_positive_int(raw, "max_concurrent_crawls", defaults.max_concurrent_crawls),
        operator_emails=_emails(raw.get("operator_emails", []), "settings: field 'operator_emails'"),
        allow_private_webhooks=bool(raw.get("allow_private_webhooks", False)),
        email_rate_limit=int(raw.get("email_rate_limit", defaults.email_rate_limit)),
        delivery_max_attempts=int(raw.get("delivery_max_attempts", defaults.delivery_max_attempts)),
        api_token_env=str(raw.get("api_token_env", defaults.api_token_env)),
        smtp=smtp,
    )


def parse_config(raw: dict, path: Path | None = None) -> Config:
    _unknown(raw, {"settings", "smtp", "sources", "subscribers"}, "config")
    base = path.parent if path else Path.cwd()
    smtp = _smtp(raw.get("smtp", {}))
    settings = _settings(raw.get("settings", {}), smtp, base)
    sources_raw = raw.get("sources", [])
    if not isinstance(sources_raw, list):
        raise ConfigError("sources: must be an array of tables ([[sources]])")
    sources = tuple(_source(i, s, settings.timezone) for i, s in enumerate(sources_raw))
    seen: set[str] = set()
    for i, s in enumerate(sources):
        if s.id in seen:
            raise ConfigError(f"sources[{i}] (id {s.id!r}): field 'id': duplicate id")
        seen.add(s.id)
    subscribers = tuple(_subscriber(i, s) for i, s in enumerate(raw.get("subscribers", [])))
    return Config(settings=settings, sources=sources, subscribers=subscribers, path=path)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    try:
        return parse_config(raw, path)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
