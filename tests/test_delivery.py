"""Delivery through real components: aiosmtpd receiving real mail, an http.server receiving signed
webhooks, the real Redis."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from alerts.digest import send_digests
from alerts.history import delivered_to, delivery_health, record_alert
from alerts.mail import MailError, build_message, send_message
from alerts.models import Alert
from alerts.outbox import Policy, queued
from alerts.process import process_pending
from alerts.render import render_email, webhook_payload
from tallywatch.config import SmtpSettings, Subscriber
from tallywatch.store import ALERTS_OUTBOX
from tests.conftest import free_port
from tests.test_alerts_helpers import (
    CHANGED_TITLE,
    CNN_URL,
    DIVERGING_TITLE,
    RECORD_TITLE,
    SECRET,
    cnn_article,
    guardian_article,
    write_article,
)
from tests.test_alerts_helpers import make_config as _make_config

NOW_RETRY = Policy(base_delay=0.0, max_delay=0.0)


def make_config(*subs, **kw):
    """The helpers' config, with webhooks to the loopback receiver allowed."""
    config = _make_config(*subs, **kw)
    return replace(config, settings=replace(config.settings, allow_private_webhooks=True))



def parts(msg):
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_email_and_webhook_for_the_scenario(seeded, smtp_server, webhook_receiver):
    r = seeded
    config = make_config(
        Subscriber(id="ed", email="ed@example.org"),
        Subscriber(id="hook", webhook=webhook_receiver.url, secret=SECRET),
        Subscriber(id="records-only", email="rec@example.org", kinds=("record",)),
        Subscriber(id="daily", email="daily@example.org", cadence="digest"),
        smtp_port=smtp_server.port,
    )
    write_article(r, cnn_article())
    write_article(r, guardian_article())
    alerts = process_pending(r, config)
    assert sorted(a.title for a in alerts) == sorted([RECORD_TITLE, DIVERGING_TITLE])

    # one email per subscriber for the batch; none for the digest subscriber
    by_rcpt = {rcpts[0]: m for (_, rcpts), m in zip(smtp_server.envelopes, smtp_server.messages, strict=True)}
    assert set(by_rcpt) == {"ed@example.org", "rec@example.org"}
    msg = by_rcpt["ed@example.org"]
    assert msg["Subject"].startswith("[tallywatch] ")
    assert RECORD_TITLE in msg["Subject"] and DIVERGING_TITLE in msg["Subject"]
    assert msg["From"] == "alerts@tallywatch.test" and msg["To"] == "ed@example.org"
    assert msg["Message-ID"].endswith("@tallywatch.test>")
    assert msg.get_content_type() == "multipart/alternative"
    text, html = parts(msg)
    for body in (text, html):
        assert "Kyiv, night of 3-4 July" in body
        assert "537 drones and missiles" in body  # what the previous record was
        assert "CNN" in body and "The Guardian" in body
    assert RECORD_TITLE in text and DIVERGING_TITLE in text
    assert "at least 23" in text and "14 injured" in text
    assert f'href="{CNN_URL}"' in html
    assert by_rcpt["rec@example.org"]["Subject"] == f"[tallywatch] {RECORD_TITLE}"

    # one signed POST per alert, verified with the subscriber's secret
    assert len(webhook_receiver.requests) == 2
    received = {}
    for req in webhook_receiver.requests:
        payload = Webhook(SECRET).verify(req["body"], req["headers"])
        assert req["headers"]["webhook-id"] == payload["data"]["key"]
        received[payload["type"]] = payload
    assert set(received) == {"alert.record", "alert.diverging"}
    rec = received["alert.record"]["data"]
    assert rec["title"] == RECORD_TITLE and rec["previous"]["value"] == 537
    assert datetime.fromisoformat(received["alert.record"]["timestamp"].replace("Z", "+00:00"))

    # everything delivered, nothing left in the outbox; re-processing sends nothing new
    assert r.zcard(ALERTS_OUTBOX) == 0
    assert queued(r) == {"stream": 0, "delayed": 0, "dead": 0, "staged": 0}
    assert process_pending(r, config) == []
    assert len(smtp_server.messages) == 2 and len(webhook_receiver.requests) == 2

    # the changed version: one more alert, one email, one POST; no second DIVERGING
    write_article(r, cnn_article(injured=26, version=2))
    assert [a.title for a in process_pending(r, config)] == [CHANGED_TITLE]
    assert smtp_server.messages[-1]["Subject"] == f"[tallywatch] {CHANGED_TITLE}"
    assert len(smtp_server.messages) == 3  # records-only did not get it
    assert len(webhook_receiver.requests) == 3
    last = Webhook(SECRET).verify(webhook_receiver.requests[-1]["body"], webhook_receiver.requests[-1]["headers"])
    assert last["type"] == "alert.changed" and last["data"]["change"] == {
        "old": 23, "new": 26, "old_qualifier": "at_least", "new_qualifier": "at_least",
        "old_version": 1, "version": 2, "retracted": False, "scope": "event"}


def test_failed_webhook_is_retried_on_the_next_run(seeded, webhook_receiver):
    r = seeded
    config = make_config(Subscriber(id="hook", webhook=webhook_receiver.url, secret=SECRET))
    webhook_receiver.status = 500
    write_article(r, cnn_article())
    (alert,) = process_pending(r, config, policy=NOW_RETRY)
    assert len(webhook_receiver.requests) == 1
    assert delivered_to(r, alert.key) == set()
    assert queued(r)["delayed"] == 1  # waiting for its retry
    health = delivery_health(r)
    assert ("WARN", "alert deliveries queued for retry: 1 (oldest 0 min)") in health
    assert any(level == "WARN" and "subscriber hook" in text and "HTTP 500" in text for level, text in health)

    webhook_receiver.status = 200
    assert process_pending(r, config, policy=NOW_RETRY) == []  # nothing new detected ...
    assert len(webhook_receiver.requests) == 2  # ... but the queued delivery went out
    assert delivered_to(r, alert.key) == {"hook"}
    assert delivery_health(r) == [("OK", "alert deliveries queued for retry: 0")]
    assert Webhook(SECRET).verify(webhook_receiver.requests[1]["body"], webhook_receiver.requests[1]["headers"])
    process_pending(r, config)
    assert len(webhook_receiver.requests) == 2


def test_unreachable_smtp_keeps_the_alert_queued(seeded, smtp_server):
    r = seeded
    sub = Subscriber(id="ed", email="ed@example.org")
    write_article(r, cnn_article())
    (alert,) = process_pending(r, make_config(sub, smtp_port=free_port()), policy=NOW_RETRY)  # nothing listens there
    assert delivered_to(r, alert.key) == set()
    assert process_pending(r, make_config(sub, smtp_port=smtp_server.port), policy=NOW_RETRY) == []
    assert [m["Subject"] for m in smtp_server.messages] == [f"[tallywatch] {RECORD_TITLE}"]
    assert delivered_to(r, alert.key) == {"ed"}


def test_send_message_errors_are_mail_errors():
    alert = _alert("record", "NEW RECORD: 1 drones in one night")
    msg = build_message([alert], Subscriber(id="x", email="x@example.org"), SmtpSettings())
    with pytest.raises(MailError):
        send_message(msg, SmtpSettings(host="127.0.0.1", port=free_port(), timeout=2))


def _alert(kind, title, *, key=None, night=date(2025, 7, 4), place="Kyiv", created_at=None, **kw):
    return Alert(kind=kind, key=key or f"{kind}:{title}", title=title, night=night, place=place,
                 metric=kw.pop("metric", "injured"), url=kw.pop("url", "https://news.example/a"),
                 outlet=kw.pop("outlet", "CNN"), created_at=created_at or datetime.now(UTC), **kw)


def test_html_is_escaped_and_links_are_safe():
    evil = _alert(
        "diverging", "DIVERGING: injured <script>alert(1)</script>",
        values=[{"outlet": "<b>Evil</b>", "value": 3, "qualifier": "exact", "url": "javascript:alert(1)",
                 "sentence": "<img src=x onerror=alert(1)>", "version": 1},
                {"outlet": "Good", "value": 9, "qualifier": "exact", "url": "https://good.example/",
                 "sentence": "nine", "version": 1}],
        sentence="<img src=x onerror=alert(1)>",
    )
    subject, text, html = render_email([evil], subscriber_id="s<1>", public_url="http://tw.example")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "<b>Evil" not in html
    assert "javascript:" not in html
    assert 'href="https://good.example/"' in html
    assert "<script>alert(1)</script>" in text  # plain text stays plain
    assert "\n" not in subject


def test_webhook_payload_is_json():
    a = _alert("record", "NEW RECORD: 539 drones in one night", metric="drones_launched")
    body = json.loads(webhook_payload(a, datetime(2025, 7, 4, 6, 0, tzinfo=UTC)))
    assert body["type"] == "alert.record"
    assert body["timestamp"] == "2025-07-04T06:00:00Z"
    assert body["data"]["key"] == a.key and body["data"]["night"] == "2025-07-04"
    assert Alert.from_dict(body["data"]) == a


def test_digest(redis_client, smtp_server, webhook_receiver):
    r = redis_client
    daily = Subscriber(id="daily", email="daily@example.org", cadence="digest")
    no_changes = Subscriber(id="nochg", email="nochg@example.org", cadence="digest", kinds=("record", "diverging"))
    hook = Subscriber(id="dhook", webhook=webhook_receiver.url, secret=SECRET, cadence="digest")
    instant = Subscriber(id="instant", email="instant@example.org")
    config = make_config(daily, no_changes, hook, instant, smtp_port=smtp_server.port)
    now = datetime.now(UTC)

    assert send_digests(r, config, now) == 0  # nothing at all: nothing sent
    assert smtp_server.messages == [] and webhook_receiver.requests == []

    t0 = now - timedelta(hours=3)
    older = _alert("record", "NEW RECORD: 539 drones in one night", night=date(2025, 7, 4), place="Kyiv",
                   created_at=t0, metric="drones_launched")
    changed = _alert("changed", "CHANGED: injured 23 → 26 (CNN)", night=date(2025, 7, 4), place="Kyiv",
                     created_at=t0 + timedelta(hours=1),
                     change={"old": 23, "new": 26, "old_qualifier": "at_least", "new_qualifier": "at_least",
                             "old_version": 1, "version": 2, "retracted": False, "scope": "event"})
    newer = _alert("diverging", "DIVERGING: killed 5 (A) vs 2 (B) — Odesa, night of 4-5 July",
                   night=date(2025, 7, 5), place="Odesa", created_at=t0 + timedelta(hours=2), metric="killed")
    for a in (older, changed, newer):
        record_alert(r, a, [])  # digest subscribers are not queued for instant delivery

    assert send_digests(r, config, now) == 3
    mails = {rcpts[0]: m for (_, rcpts), m in zip(smtp_server.envelopes, smtp_server.messages, strict=True)}
    assert set(mails) == {"daily@example.org", "nochg@example.org"}
    msg = mails["daily@example.org"]
    assert msg["Subject"].startswith("[tallywatch] digest: 3 alerts — ")
    text, html = parts(msg)
    # grouped by event, newest first
    assert text.index("Odesa, night of 4-5 July") < text.index("Kyiv, night of 3-4 July")
    assert text.index(changed.title) < text.index(older.title)
    assert html.index("Odesa, night of 4-5 July") < html.index("Kyiv, night of 3-4 July")
    assert changed.title not in mails["nochg@example.org"].get_body(("plain",)).get_content()
    (post,) = webhook_receiver.requests
    payload = Webhook(SECRET).verify(post["body"], post["headers"])
    assert payload["type"] == "alert.digest" and len(payload["data"]["alerts"]) == 3

    # nothing new since: nothing sent
    assert send_digests(r, config, now + timedelta(hours=1)) == 0
    assert len(smtp_server.messages) == 2 and len(webhook_receiver.requests) == 1

    # one new alert: only it, in the next digest
    fresh = _alert("record", "NEW RECORD: 600 drones in one night", night=date(2025, 7, 6),
                   created_at=now + timedelta(hours=2), metric="drones_launched")
    record_alert(r, fresh, [])
    assert send_digests(r, config, now + timedelta(hours=3)) == 3
    assert smtp_server.messages[-1]["Subject"] == f"[tallywatch] digest: 1 alert — {fresh.title}"


def test_failed_digest_is_sent_next_time(redis_client, smtp_server):
    r = redis_client
    daily = Subscriber(id="daily", email="daily@example.org", cadence="digest")
    now = datetime.now(UTC)
    record_alert(r, _alert("record", "NEW RECORD: 539 drones in one night", created_at=now), [])
    assert send_digests(r, make_config(daily, smtp_port=free_port()), now + timedelta(minutes=1),
                        policy=NOW_RETRY) == 0
    assert send_digests(r, make_config(daily, smtp_port=smtp_server.port), now + timedelta(minutes=2),
                        policy=NOW_RETRY) == 1
    assert len(smtp_server.messages) == 1
