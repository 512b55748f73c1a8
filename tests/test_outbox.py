"""The delivery outbox against real components: Redis streams, a local HTTP receiver answering
200/500/429/410/slowly on demand, aiosmtpd answering 250/451/550 on demand."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from alerts import outbox, webhook
from alerts import subscriptions as subs
from alerts.history import delivered_to, delivery_health, record_alert
from alerts.models import Alert
from alerts.outbox import Policy, deliver_pass, enqueue_digests, enqueue_staged, queued
from alerts.render import MAX_WEBHOOK_BYTES
from tallywatch.config import Subscriber
from tallywatch.store import OUTBOX_DELAYED, OUTBOX_GROUP, OUTBOX_STREAM
from tests.conftest import free_port
from tests.test_alerts_helpers import SECRET
from tests.test_alerts_helpers import make_config as _make_config

FAST = Policy(base_delay=0.0, max_delay=0.0, max_attempts=3, claim_idle_ms=60_000)
SECRET2 = "whsec_" + "c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tMDEyMzQ1Ng=="


def make_config(*subscribers, **kw):
    settings_kw = {k: kw.pop(k) for k in ("allow_private_webhooks", "email_rate_limit") if k in kw}
    config = _make_config(*subscribers, **kw)
    return replace(config, settings=replace(config.settings, **{"allow_private_webhooks": True, **settings_kw}))


class Receiver:
    """A webhook receiver on loopback: ``plan`` is a list of answers used in turn — a status, or a
    dict {status, headers, delay} — then ``status``; every POST is recorded."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        rec = self
        self.requests: list[dict] = []
        self.plan: list = []
        self.status = status
        self.delay = delay
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with rec.lock:
                    answer = rec.plan.pop(0) if rec.plan else rec.status
                    delay = rec.delay
                answer = answer if isinstance(answer, dict) else {"status": answer}
                time.sleep(answer.get("delay", delay))
                with rec.lock:
                    rec.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body,
                                         "status": answer["status"], "at": time.time()})
                try:
                    self.send_response(answer["status"])
                    for k, v in answer.get("headers", {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def accepted_ids(self) -> list[str]:
        with self.lock:
            return [r["headers"]["webhook-id"] for r in self.requests if 200 <= r["status"] < 300]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.stop()


class Smtp:
    """aiosmtpd answering RCPT with ``rcpt_code`` (250 accepts) and recording accepted messages."""

    def __init__(self, port: int | None = None):
        import email
        import email.policy

        from aiosmtpd.controller import Controller

        sink = self
        self.rcpt_code = 250
        self.messages: list = []
        self.port = port or free_port()

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
                if sink.rcpt_code != 250:
                    return f"{sink.rcpt_code} {'mailbox unavailable' if sink.rcpt_code >= 500 else 'try later'}"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                sink.messages.append(email.message_from_bytes(envelope.original_content or envelope.content,
                                                              policy=email.policy.default))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


@pytest.fixture
def smtp():
    s = Smtp().start()
    yield s
    s.stop()


def make_alert(i: int, *, kind: str = "record", created_at: datetime | None = None, **kw) -> Alert:
    return Alert(kind=kind, key=f"{kind}:{i:020x}", title=f"NEW RECORD: {500 + i} drones in one night",
                 night=kw.pop("night", date(2025, 7, 4)), place=kw.pop("place", "Kyiv"),
                 metric=kw.pop("metric", "drones_launched"),
                 values=kw.pop("values", [{"outlet": "CNN", "value": 500 + i, "qualifier": "exact",
                                           "url": "https://news.example/a", "sentence": "s"}]),
                 url="https://news.example/a", outlet="CNN", created_at=created_at or datetime.now(UTC), **kw)


def stage(r, config, alerts, sub_ids) -> None:
    for a in alerts:
        record_alert(r, a, sub_ids)
    enqueue_staged(r, {s.id: s for s in subs.all_subscriptions(r, config)})


def test_rotated_secrets_sign_twice_and_webhook_id_is_the_alert_key(redis_client, receiver):
    r = redis_client
    config = make_config()
    sub = subs.parse({"id": "hook", "webhook": receiver.url, "secrets": [SECRET2, SECRET]}, allow_private=True)
    subs.create(r, config, sub)
    a = make_alert(1)
    stage(r, config, [a], ["hook"])
    assert deliver_pass(r, config, policy=FAST).sent == 1
    (req,) = receiver.requests
    assert req["headers"]["webhook-id"] == a.key
    assert len(req["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, SECRET2):  # a receiver holding either secret accepts it
        assert Webhook(secret).verify(req["body"], req["headers"])["data"]["key"] == a.key
    assert delivered_to(r, a.key) == {"hook"}
    assert queued(r) == {"stream": 0, "delayed": 0, "dead": 0, "staged": 0}


def test_private_addresses_are_refused_unless_allowed(redis_client, receiver):
    assert subs.is_public_address("93.184.216.34") and subs.is_public_address("2606:4700::1111")
    for addr in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.5", "169.254.169.254", "::1", "fe80::1",
                 "::ffff:127.0.0.1", "100.64.0.1", "0.0.0.0", "fc00::1", "224.0.0.1"):
        assert not subs.is_public_address(addr), addr
    with pytest.raises(webhook.UnsafeTarget):
        webhook.resolve_checked("localhost", 80, allow_private=False)
    assert webhook.resolve_checked("localhost", 80, allow_private=True)
    with pytest.raises(subs.SubscriptionError) as err:
        subs.parse({"id": "x", "webhook": "http://169.254.169.254/latest"})
    assert err.value.errors[0][0] == "webhook"

    r = redis_client
    config = make_config(Subscriber(id="hook", webhook=receiver.url, secret=SECRET), allow_private_webhooks=False)
    stage(r, config, [make_alert(1)], ["hook"])
    stats = deliver_pass(r, config, policy=FAST)
    assert stats.dead == 1 and receiver.requests == []  # refused at once: no retry would help
    (dead,) = outbox.dead_letters(r)
    assert "non-public" in dead["error"]


def test_retries_with_backoff_then_dead_letter_then_redrive(redis_client, receiver):
    r = redis_client
    config = make_config(Subscriber(id="hook", webhook=receiver.url, secret=SECRET))
    receiver.status = 500
    a = make_alert(1)
    stage(r, config, [a], ["hook"])
    policy = Policy(base_delay=0.2, max_delay=10, max_attempts=3)
    deliver_pass(r, config, policy=policy)
    (member, due), = r.zrange(OUTBOX_DELAYED, 0, -1, withscores=True)
    assert json.loads(member)["attempt"] == "1"
    assert 0.1 - 0.01 <= due - time.time() <= 0.2  # 50-100 % of base_delay
    assert deliver_pass(r, config, policy=policy).handled == 0  # not due yet
    time.sleep(0.25)
    deliver_pass(r, config, policy=policy)  # attempt 2 fails: next wait 0.2-0.4 s
    (_, due2), = r.zrange(OUTBOX_DELAYED, 0, -1, withscores=True)
    assert 0.19 <= due2 - time.time() <= 0.4
    time.sleep(0.45)
    stats = deliver_pass(r, config, policy=policy)  # attempt 3 = max_attempts: dead letter
    assert stats.dead == 1 and len(receiver.requests) == 3
    assert queued(r)["dead"] == 1 and queued(r)["delayed"] == 0
    assert any(level == "WARN" and "given up on: 1" in text for level, text in delivery_health(r))
    (dead,) = outbox.dead_letters(r)
    assert dead["attempts"] == 3 and "HTTP 500" in dead["error"] and json.loads(dead["fields"]["alerts"]) == [a.key]

    receiver.status = 200
    assert outbox.redrive(r, [dead["id"]]) == 1
    assert deliver_pass(r, config, policy=policy).sent == 1
    assert delivered_to(r, a.key) == {"hook"} and queued(r)["dead"] == 0
    assert receiver.accepted_ids() == [a.key]


def test_429_retry_after_is_honoured_and_410_unsubscribes(redis_client, receiver):
    r = redis_client
    config = make_config(Subscriber(id="cfg-hook", webhook=receiver.url, secret=SECRET))
    stored = subs.parse({"id": "api-hook", "webhook": receiver.url, "secrets": [SECRET]}, allow_private=True)
    subs.create(r, config, stored)
    receiver.plan = [{"status": 429, "headers": {"Retry-After": "30"}}]
    stage(r, config, [make_alert(1)], ["cfg-hook"])
    deliver_pass(r, config, policy=FAST)
    (_, due), = r.zrange(OUTBOX_DELAYED, 0, -1, withscores=True)
    assert 29 <= due - time.time() <= 30.5  # the receiver's word, not our zero backoff
    r.delete(OUTBOX_DELAYED)

    receiver.status = 410
    stage(r, config, [make_alert(2), make_alert(3)], ["cfg-hook", "api-hook"])
    deliver_pass(r, config, policy=FAST)
    # the first 410 of each unsubscribes it; the rest is dropped without a request
    assert len(receiver.requests) == 1 + 2
    assert subs.get(r, config, "api-hook") is None  # a stored subscription is removed
    assert subs.get(r, config, "cfg-hook") is None  # a config one is turned off
    assert "cfg-hook" in subs.disabled(r)
    assert queued(r) == {"stream": 0, "delayed": 0, "dead": 0, "staged": 0}


def test_timeout_is_a_retryable_failure(redis_client, receiver):
    r = redis_client
    config = make_config(Subscriber(id="hook", webhook=receiver.url, secret=SECRET), webhook_timeout=0.3)
    receiver.plan = [{"status": 200, "delay": 1.0}]
    a = make_alert(1)
    stage(r, config, [a], ["hook"])
    t0 = time.monotonic()
    stats = deliver_pass(r, config, policy=FAST)
    assert time.monotonic() - t0 < 0.9 and stats.failed == 1 and "timed out" in stats.errors[0]
    time.sleep(0.8)
    assert deliver_pass(r, config, policy=FAST).sent == 1
    assert delivered_to(r, a.key) == {"hook"}


def test_big_payload_is_cut_with_a_link(redis_client, receiver):
    r = redis_client
    config = make_config(Subscriber(id="hook", webhook=receiver.url, secret=SECRET))
    values = [{"outlet": f"Outlet {i}", "value": i, "qualifier": "exact", "url": f"https://n.example/{i}",
               "sentence": "x" * 400} for i in range(80)]
    a = make_alert(1, kind="diverging", values=values)
    stage(r, config, [a], ["hook"])
    deliver_pass(r, config, policy=FAST)
    (req,) = receiver.requests
    assert len(req["body"]) <= MAX_WEBHOOK_BYTES
    payload = Webhook(SECRET).verify(req["body"], req["headers"])
    assert payload["data"]["truncated"] is True and payload["data"]["key"] == a.key
    assert payload["data"]["link"] == f"http://tallywatch.test/api/alerts/{a.key}"


def test_crash_between_send_and_ack_is_not_a_second_delivery(redis_client, receiver):
    r = redis_client
    config = make_config(Subscriber(id="hook", webhook=receiver.url, secret=SECRET))
    a = make_alert(1)
    stage(r, config, [a], ["hook"])
    outbox.ensure_group(r)
    # worker w1 reads the entry and dies before doing anything: w2 takes it over once idle
    r.xreadgroup(OUTBOX_GROUP, "w1", {OUTBOX_STREAM: ">"}, count=10)
    assert deliver_pass(r, config, "w2", Policy(claim_idle_ms=60_000)).handled == 0  # w1 may be alive
    time.sleep(0.05)
    assert deliver_pass(r, config, "w2", Policy(claim_idle_ms=10)).sent == 1
    # the same delivery queued again (a crash after the POST, before the mark): skipped
    r.xadd(OUTBOX_STREAM, outbox._entry("hook", [a.key]))
    stats = deliver_pass(r, config, "w2", FAST)
    assert stats.skipped == 1 and stats.sent == 0
    assert receiver.accepted_ids() == [a.key]


def test_email_4xx_is_retried_and_5xx_marks_the_address_failing(redis_client, smtp):
    r = redis_client
    config = make_config(Subscriber(id="ed", email="ed@example.org"), smtp_port=smtp.port)
    smtp.rcpt_code = 451
    a = make_alert(1)
    stage(r, config, [a], ["ed"])
    stats = deliver_pass(r, config, policy=FAST)
    assert stats.failed == 1 and "451" in stats.errors[0]
    assert not subs.is_failing(r, "ed")
    smtp.rcpt_code = 250
    assert deliver_pass(r, config, policy=FAST).sent == 1
    assert [m["X-Tallywatch-Alerts"] for m in smtp.messages] == [a.key]

    smtp.rcpt_code = 550
    policy = Policy(base_delay=0.0, max_delay=0.0, max_attempts=10, bounce_limit=3)
    stage(r, config, [make_alert(2)], ["ed"])
    for _ in range(3):
        deliver_pass(r, config, policy=policy)
    assert subs.is_failing(r, "ed")
    (dead,) = outbox.dead_letters(r)
    assert "marked failing after 3 refusals" in dead["error"]
    assert any("email address failing" in text for _, text in delivery_health(r))
    # further mail to a failing address is not even tried
    stage(r, config, [make_alert(3)], ["ed"])
    assert deliver_pass(r, config, policy=policy).dead == 1
    # re-driving resets the count: the address gets another chance
    smtp.rcpt_code = 250
    assert outbox.redrive(r) == 2
    assert deliver_pass(r, config, policy=policy).sent == 2
    assert not subs.is_failing(r, "ed")


def test_email_rate_limit_defers_to_the_next_hour(redis_client, smtp):
    r = redis_client
    config = make_config(Subscriber(id="ed", email="ed@example.org"), smtp_port=smtp.port, email_rate_limit=2)
    for i in range(3):  # three separate batches: three emails wanted
        stage(r, config, [make_alert(i)], ["ed"])
    stats = deliver_pass(r, config, policy=FAST)
    assert stats.sent == 2 and stats.deferred == 1 and len(smtp.messages) == 2
    (_, due), = r.zrange(OUTBOX_DELAYED, 0, -1, withscores=True)
    assert due >= (time.time() // 3600 + 1) * 3600


def test_one_click_headers_and_unsubscribe_url(redis_client, smtp):
    from alerts.unsubscribe import make_token, verify

    r = redis_client
    config = make_config(smtp_port=smtp.port)
    sub = subs.parse({"id": "ana", "email": "ana@example.org"})
    subs.create(r, config, sub)
    stage(r, config, [make_alert(1)], ["ana"])
    deliver_pass(r, config, policy=FAST)
    (msg,) = smtp.messages
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = msg["List-Unsubscribe"].strip("<>")
    assert url.startswith("http://tallywatch.test/unsubscribe?token=")
    token = url.split("token=")[1]
    assert token == make_token(r, "ana", sub.created_at) and verify(r, token, sub.created_at)
    assert not verify(r, token, sub.created_at + 1)  # a later subscription under the same id
    assert not verify(r, token[:-2] + ("AA" if not token.endswith("AA") else "BB"), sub.created_at)
    text = msg.get_body(("plain",)).get_content()
    assert f"Unsubscribe: {url}" in text
    assert "Unsubscribe</a>" in msg.get_body(("html",)).get_content()


def test_digest_periods():
    kyiv = subs.parse({"id": "d", "email": "d@example.org", "cadence": "daily", "at": "08:30",
                       "timezone": "Europe/Kyiv"})
    hourly = subs.parse({"id": "h", "email": "h@example.org", "cadence": "hourly"})
    at = datetime(2025, 7, 4, 5, 29, tzinfo=UTC)  # 08:29 in Kyiv (UTC+3 in summer)
    assert outbox.digest_period(kyiv, at) == "daily:2025-07-03"
    assert outbox.digest_period(kyiv, at + timedelta(minutes=1)) == "daily:2025-07-04"
    assert outbox.digest_period(hourly, at) == "hourly:2025-07-04T05"
    assert outbox.digest_period(subs.parse({"id": "i", "email": "i@example.org"}), at) is None


def test_hourly_digest_sends_only_what_is_new(redis_client, smtp):
    r = redis_client
    config = make_config(smtp_port=smtp.port)
    t0 = datetime(2026, 1, 10, 9, 10, tzinfo=UTC)
    sub = subs.parse({"id": "h", "email": "h@example.org", "cadence": "hourly", "places": ["Kyiv"]},
                     now=t0.timestamp())
    subs.create(r, config, sub)
    all_subs = subs.all_subscriptions(r, config)
    assert enqueue_digests(r, all_subs, t0) == 0  # first sight: the watermark starts
    before = make_alert(0, created_at=t0 - timedelta(minutes=5))  # before it subscribed
    a1 = make_alert(1, created_at=t0 + timedelta(minutes=20))
    a2 = make_alert(2, created_at=t0 + timedelta(minutes=30), night=date(2025, 7, 5))
    elsewhere = make_alert(3, created_at=t0 + timedelta(minutes=31), place="Odesa")
    for a in (before, a1, a2, elsewhere):
        record_alert(r, a, [])
    assert enqueue_digests(r, all_subs, t0 + timedelta(minutes=40)) == 0  # same hour: not due
    assert enqueue_digests(r, all_subs, t0 + timedelta(minutes=55)) == 1  # 10:05: the 10:00 digest
    deliver_pass(r, config, policy=FAST)
    (msg,) = smtp.messages
    assert msg["Subject"].startswith("[tallywatch] digest: 2 alerts")
    text = msg.get_body(("plain",)).get_content()
    assert text.index(a2.title) < text.index(a1.title)  # newest event first
    assert before.title not in text and elsewhere.title not in text
    assert msg["List-Unsubscribe"]
    # nothing new in the next hour: nothing sent
    assert enqueue_digests(r, all_subs, t0 + timedelta(hours=1, minutes=55)) == 0
    a3 = make_alert(4, created_at=t0 + timedelta(hours=2))
    record_alert(r, a3, [])
    assert enqueue_digests(r, all_subs, t0 + timedelta(hours=2, minutes=55)) == 1
    deliver_pass(r, config, policy=FAST)
    assert len(smtp.messages) == 2
    assert smtp.messages[1]["Subject"] == f"[tallywatch] digest: 1 alert — {a3.title}"


def test_filters_decide_who_gets_an_instant_alert(redis_client, receiver):
    from alerts.process import process_pending
    from tests.test_alerts_helpers import cnn_article, write_article

    r = redis_client
    config = make_config()
    for data in ({"id": "all", "webhook": receiver.url},
                 {"id": "big", "webhook": receiver.url, "min_value": 500},
                 {"id": "guardian", "webhook": receiver.url, "outlets": ["The Guardian"]},
                 {"id": "injured", "webhook": receiver.url, "metrics": ["injured"]}):
        subs.create(r, config, subs.parse(data, allow_private=True))
    write_article(r, cnn_article())
    alerts = process_pending(r, config, policy=FAST)
    assert alerts
    got = {}
    for req in receiver.requests:
        got.setdefault(req["headers"]["webhook-id"], 0)
        got[req["headers"]["webhook-id"]] += 1
    by_key = {a.key: a for a in alerts}
    for key in got:
        assert key in by_key
    for a in alerts:
        assert delivered_to(r, a.key) == {s for s in ("all", "big", "guardian", "injured")
                                          if subs.matches(subs.get(r, config, s), a)}


def test_https_webhook_to_the_checked_address(redis_client, tls_cert, monkeypatch):
    """HTTPS through the pinned connection: SNI and certificate checked against the host name,
    the TCP connection made to the address that was checked."""
    import ssl

    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))
    rec = Receiver()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*map(str, tls_cert))
    rec.server.socket = ctx.wrap_socket(rec.server.socket, server_side=True)
    try:
        r = redis_client
        url = f"https://localhost:{rec.server.server_address[1]}/hook"
        config = make_config(Subscriber(id="hook", webhook=url, secret=SECRET))
        a = make_alert(1)
        stage(r, config, [a], ["hook"])
        assert deliver_pass(r, config, policy=FAST).sent == 1
        assert rec.accepted_ids() == [a.key]
        monkeypatch.delenv("SSL_CERT_FILE")  # an untrusted certificate is a failure, retried
        stage(r, config, [make_alert(2)], ["hook"])
        stats = deliver_pass(r, config, policy=FAST)
        assert stats.failed == 1 and "CERTIFICATE_VERIFY_FAILED" in stats.errors[0]
    finally:
        rec.stop()


def test_a_receiver_dripping_its_answer_is_cut_off(redis_client):
    """Each byte arrives well within the timeout, the whole answer never does: bounded anyway."""
    import socket as socket_mod

    srv = socket_mod.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip():
        conn, _ = srv.accept()
        conn.recv(65536)
        for ch in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 1000:
            if stop.is_set():
                break
            try:
                conn.send(bytes([ch]))
            except OSError:
                break
            time.sleep(0.05)
        conn.close()

    t = threading.Thread(target=drip, daemon=True)
    t.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(webhook.WebhookError) as err:
            webhook.post(f"http://127.0.0.1:{srv.getsockname()[1]}/hook", SECRET, "msg_1", "{}", timeout=0.4,
                         allow_private=True)
        assert time.monotonic() - t0 < 1.5
        assert "no complete answer within 0.8 s" in str(err.value)
    finally:
        stop.set()
        srv.close()


def test_daily_digest_at_a_local_time(redis_client, smtp):
    r = redis_client
    config = make_config(smtp_port=smtp.port)
    t0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    subs.create(r, config, subs.parse({"id": "d", "email": "d@example.org", "cadence": "daily", "at": "08:30",
                                       "timezone": "Europe/Kyiv"}, now=t0.timestamp()))
    all_subs = subs.all_subscriptions(r, config)
    enqueue_digests(r, all_subs, t0)  # first sight
    a = make_alert(1, created_at=t0 + timedelta(hours=3))
    record_alert(r, a, [])
    next_day = datetime(2026, 7, 2, 5, 29, tzinfo=UTC)  # 08:29 in Kyiv (UTC+3)
    assert enqueue_digests(r, all_subs, next_day) == 0
    assert enqueue_digests(r, all_subs, next_day + timedelta(minutes=1)) == 1  # 08:30 local
    assert enqueue_digests(r, all_subs, next_day + timedelta(hours=5)) == 0  # once a day
    deliver_pass(r, config, policy=FAST)
    (msg,) = smtp.messages
    assert msg["Subject"] == f"[tallywatch] digest: 1 alert — {a.title}"
