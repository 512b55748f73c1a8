"""Rendering alerts with the Jinja2 templates in alerts/templates/: the email (plain text + HTML, one
per batch of alerts for one subscriber, grouped by event) and the webhook JSON payload.

HTML is autoescaped (titles and sentences come from article text, which is hostile input), and links
are kept only when they are http(s).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from alerts.models import QUALIFIER_WORDS, Alert, label, noun, one_line

TEMPLATES = Path(__file__).resolve().parent / "templates"
SUBJECT_PREFIX = "[tallywatch]"
MAX_SUBJECT = 200


def _qv(value, qualifier: str | None = None) -> str:
    word = QUALIFIER_WORDS.get(qualifier or "exact", "")
    return f"{word} {value}" if word else str(value)


def _safe_url(url: str | None) -> str:
    try:
        parsed = urlparse(url or "")
    except ValueError:
        return "#"
    return url if parsed.scheme in ("http", "https") and parsed.netloc else "#"


def _autoescape(name: str | None) -> bool:
    return bool(name) and (name.endswith(".html.j2") or name.endswith(".html"))


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=_autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(qv=_qv, noun=noun, label=label, safe_url=_safe_url)
    return env


_ENV: Environment | None = None


def env() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = environment()
    return _ENV


@dataclass
class EventGroup:
    label: str
    alerts: list[dict]
    url: str = ""  # the event's breakdown page in the web app


def group_by_event(alerts: list[Alert], public_url: str = "") -> list[EventGroup]:
    """Alerts grouped by event (night, place); newest event first, newest alert first within one."""
    ordered = sorted(alerts, key=lambda a: (a.created_at, a.key), reverse=True)
    groups: dict[tuple, list[Alert]] = {}
    for a in ordered:
        groups.setdefault((a.night, a.place.casefold()), []).append(a)
    keys = sorted(groups, key=lambda k: (k[0], max(a.created_at for a in groups[k])), reverse=True)
    return [EventGroup(label=groups[k][0].event_label, alerts=[_view(a) for a in groups[k]],
                       url=_event_link(public_url, groups[k][0])) for k in keys]


def _event_link(public_url: str, alert: Alert) -> str:
    from alerts.grouping import event_url

    return event_url(public_url, alert.night, alert.place) if public_url else ""


def _view(a: Alert) -> dict:
    d = a.to_dict()
    if d.get("previous"):
        d["previous"] = {**d["previous"], "year": d["previous"]["night"][:4]}
    return d


def subject(alerts: list[Alert], digest: bool = False) -> str:
    """"[tallywatch] NEW RECORD: 539 drones ...; DIVERGING: ..." cut to a sane length."""
    titles = [one_line(a.title) for a in sorted(alerts, key=lambda a: (a.created_at, a.key), reverse=True)]
    head = f"{SUBJECT_PREFIX} digest: {len(alerts)} alert{'s' if len(alerts) != 1 else ''} — " if digest \
        else f"{SUBJECT_PREFIX} "
    text = head + "; ".join(titles)
    if len(text) > MAX_SUBJECT:
        text = text[: MAX_SUBJECT - 1].rstrip() + "…"
    return text


def render_email(
    alerts: list[Alert], *, subscriber_id: str, public_url: str = "", digest: bool = False,
    unsubscribe_url: str = "",
) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of one email carrying ``alerts``."""
    n = len(alerts)
    heading = (f"tallywatch digest: {n} alert{'s' if n != 1 else ''}" if digest
               else f"tallywatch: {n} new alert{'s' if n != 1 else ''}")
    ctx = {
        "heading": heading,
        "groups": group_by_event(alerts, public_url),
        "subscriber_id": subscriber_id,
        "public_url": public_url,
        "digest": digest,
        "unsubscribe_url": unsubscribe_url,
    }
    text = env().get_template("email.txt.j2").render(**ctx)
    html = env().get_template("email.html.j2").render(**ctx)
    return subject(alerts, digest), text, html


def webhook_payload(alert: Alert | list[Alert], timestamp: datetime | None = None) -> str:
    """The JSON body of a webhook: {"type": "alert.record", "timestamp": ..., "data": {alert}}; a list
    of alerts gives {"type": "alert.digest", ..., "data": {"alerts": [...]}}."""
    timestamp = timestamp or datetime.now(UTC)
    if isinstance(alert, list):
        type_, data = "alert.digest", {"alerts": [a.to_dict() for a in alert]}
    else:
        type_, data = alert.webhook_type, alert.to_dict()
    body = env().get_template("webhook.json.j2").render(
        type=type_, timestamp=timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"), data=data)
    return json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":"))


# Standard Webhooks receivers commonly cap bodies; ours stay under this, with a link for the rest.
MAX_WEBHOOK_BYTES = 20_000
_SUMMARY_FIELDS = ("kind", "key", "title", "night", "place", "metric", "url", "outlet", "created_at")


def _alert_link(public_url: str, key: str) -> str:
    return f"{public_url.rstrip('/')}/api/alerts/{key}" if public_url else ""


def webhook_body(alert: Alert | list[Alert], timestamp: datetime | None = None, *, public_url: str = "",
                 limit: int = MAX_WEBHOOK_BYTES) -> str:
    """:func:`webhook_payload`, cut under ``limit`` bytes when needed: the alert's summary fields
    (or, for a digest, each alert's) with ``"truncated": true`` and a ``link`` to the full alert
    (``GET /api/alerts/{key}``)."""
    body = webhook_payload(alert, timestamp)
    if len(body.encode("utf-8")) <= limit:
        return body
    doc = json.loads(body)
    if isinstance(alert, list):
        items = [{**{f: d.get(f) for f in _SUMMARY_FIELDS}, "link": _alert_link(public_url, d["key"])}
                 for d in doc["data"]["alerts"]]
        doc["data"] = {"alerts": items, "truncated": True, "total": len(items)}
        while len(json.dumps(doc, ensure_ascii=False).encode("utf-8")) > limit and doc["data"]["alerts"]:
            doc["data"]["alerts"].pop()
    else:
        d = doc["data"]
        doc["data"] = {**{f: d.get(f) for f in _SUMMARY_FIELDS}, "truncated": True,
                       "link": _alert_link(public_url, d["key"])}
        if len(json.dumps(doc, ensure_ascii=False).encode("utf-8")) > limit:
            doc["data"]["title"] = doc["data"]["title"][:1000]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
