"""The subscriptions API and the one-click unsubscribe endpoint, through the real FastAPI app."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from alerts import outbox
from alerts import subscriptions as subs
from alerts.unsubscribe import make_token
from tallywatch.config import Subscriber
from tests.conftest import free_port
from tests.test_alerts_helpers import make_config
from tests.test_outbox import FAST, make_alert, stage
from web.app import create_app

TOKEN = "test-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(redis_client, monkeypatch):
    monkeypatch.setenv("TALLYWATCH_API_TOKEN", f"{TOKEN}, test-token-2")
    # settings.allow_private_webhooks stays false here
    config = make_config(Subscriber(id="cfg", email="cfg@example.org", kinds=("record",)), smtp_port=free_port())
    return TestClient(create_app(config, redis_client))


def test_auth(app, monkeypatch):
    assert app.get("/api/subscriptions").status_code == 401
    assert app.get("/api/subscriptions", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert app.get("/api/subscriptions", headers={"Authorization": "Bearer test-token-2"}).status_code == 200
    monkeypatch.delenv("TALLYWATCH_API_TOKEN")
    r = app.get("/api/subscriptions", headers=AUTH)
    assert r.status_code == 503 and "TALLYWATCH_API_TOKEN" in r.json()["detail"]


def test_crud(app):
    body = {"id": "ana", "email": "ana@example.org", "kinds": ["record", "diverging"], "places": ["Kyiv"],
            "min_value": 100, "cadence": "daily", "at": "08:30", "timezone": "Europe/Kyiv"}
    r = app.post("/api/subscriptions", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["id"] == "ana" and created["source"] == "api" and not created["read_only"]
    assert app.post("/api/subscriptions", json=body, headers=AUTH).status_code == 409

    r = app.post("/api/subscriptions", json={"id": "hook", "webhook": "https://hooks.example.org/x"}, headers=AUTH)
    assert r.status_code == 201 and r.json()["secret"].startswith("whsec_") and r.json()["secrets"] == 1

    listed = app.get("/api/subscriptions", headers=AUTH).json()
    assert [s["id"] for s in listed] == ["cfg", "ana", "hook"]
    assert listed[0]["read_only"] and listed[0]["source"] == "config"
    assert "secret" not in listed[2] and "whsec" not in str(listed)

    r = app.put("/api/subscriptions/ana", json={**body, "places": ["Odesa"]}, headers=AUTH)
    assert r.status_code == 200 and r.json()["places"] == ["Odesa"]
    assert r.json()["created_at"] == created["created_at"]
    assert app.get("/api/subscriptions/ana", headers=AUTH).json()["places"] == ["Odesa"]
    assert app.put("/api/subscriptions/cfg", json={"id": "cfg", "email": "x@example.org"},
                   headers=AUTH).status_code == 403
    assert app.delete("/api/subscriptions/cfg", headers=AUTH).status_code == 403
    assert app.delete("/api/subscriptions/ana", headers=AUTH).status_code == 204
    assert app.get("/api/subscriptions/ana", headers=AUTH).status_code == 404
    assert app.delete("/api/subscriptions/ana", headers=AUTH).status_code == 404


def _fields(r) -> set[str]:
    assert r.status_code == 422, r.text
    return {".".join(str(x) for x in e["loc"][1:] if not isinstance(x, int)) for e in r.json()["detail"]}


def test_validation_errors_name_the_fields(app):
    post = lambda body: app.post("/api/subscriptions", json=body, headers=AUTH)  # noqa: E731
    assert _fields(post({"id": "a", "email": "nope", "kinds": ["x"], "min_value": -3})) == {
        "email", "kinds", "min_value"}
    assert _fields(post({"id": "a", "email": "a@example.org", "cadence": "daily", "timezone": "Mars/Base"})) == {
        "timezone"}
    assert _fields(post({"id": "a", "webhook": "http://127.0.0.1:8/x"})) == {"webhook"}  # private: refused
    assert _fields(post({"id": "a", "webhook": "https://h.example/x", "secrets": ["%%%"]})) == {"secrets"}
    assert _fields(post({"id": "a", "email": "a@example.org", "unknown": 1})) == {"unknown"}
    assert _fields(app.put("/api/subscriptions/b", json={"id": "a", "email": "a@example.org"}, headers=AUTH)) == {
        "id"}


def test_openapi_schema(app):
    schema = app.get("/openapi.json").json()
    assert {"/api/subscriptions", "/api/subscriptions/{sid}", "/api/deliveries/failed",
            "/api/deliveries/redrive", "/unsubscribe", "/api/alerts/{key}"} <= set(schema["paths"])
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    props = schema["components"]["schemas"]["SubscriptionIn"]["properties"]
    assert {"email", "webhook", "secrets", "kinds", "metrics", "places", "outlets", "min_value", "keywords",
            "cadence", "at", "timezone"} <= set(props)


def test_one_click_unsubscribe(app, redis_client):
    r = redis_client
    config = app.app.state.config
    app.post("/api/subscriptions", json={"id": "ana", "email": "ana@example.org"}, headers=AUTH)
    sub = subs.get(r, config, "ana")
    token = make_token(r, "ana", sub.created_at)

    page = app.get("/unsubscribe", params={"token": token})
    assert page.status_code == 200 and 'method="post"' in page.text and "ana@example.org" in page.text
    assert subs.get(r, config, "ana") is not None  # a GET (a link scanner) never unsubscribes
    assert app.post("/unsubscribe", params={"token": token[:-3] + "abc"}).status_code == 400
    assert app.post("/unsubscribe", params={"token": "garbage"}).status_code == 400

    r1 = app.post("/unsubscribe", params={"token": token}, data={"List-Unsubscribe": "One-Click"})
    assert r1.status_code == 200 and "Unsubscribed" in r1.text
    assert subs.get(r, config, "ana") is None
    assert app.post("/unsubscribe", params={"token": token}).status_code == 200  # again: fine

    # a config subscriber is turned off the same way; nothing is delivered to it after
    cfg_token = make_token(r, "cfg", 0.0)
    assert app.post("/unsubscribe", params={"token": cfg_token}).status_code == 200
    assert subs.get(r, config, "cfg") is None
    stage(r, config, [make_alert(1)], ["cfg"])
    assert outbox.deliver_pass(r, config, policy=FAST).sent == 0


def test_deliveries_and_alert_endpoints(app, redis_client):
    r = redis_client
    config = app.app.state.config
    a = make_alert(1)
    stage(r, config, [a], ["cfg"])  # nothing listens on its SMTP port
    outbox.deliver_pass(r, config, policy=outbox.Policy(max_attempts=1))
    assert app.get("/api/deliveries", headers=AUTH).json()["dead"] == 1
    (dead,) = app.get("/api/deliveries/failed", headers=AUTH).json()
    assert dead["fields"]["sub"] == "cfg"
    assert app.post("/api/deliveries/redrive", json={}, headers=AUTH).status_code == 422
    assert app.post("/api/deliveries/redrive", json={"ids": [dead["id"]]}, headers=AUTH).json() == {"requeued": 1}
    got = app.get(f"/api/alerts/{a.key}", headers=AUTH).json()
    assert got["key"] == a.key and got["title"] == a.title
    assert app.get("/api/alerts/record:nope", headers=AUTH).status_code == 404


def test_the_link_in_a_received_email_unsubscribes(app, redis_client):
    """The List-Unsubscribe URL of a real email (aiosmtpd), POSTed as a mail client does (RFC 8058)."""
    from urllib.parse import urlsplit

    from tests.test_outbox import Smtp

    r = redis_client
    smtp = Smtp().start()
    try:
        config = app.app.state.config
        config = replace(config, settings=replace(config.settings, smtp=replace(config.settings.smtp, port=smtp.port)))
        app.app.state.config = config
        assert app.post("/api/subscriptions", json={"id": "ana", "email": "ana@example.org"},
                        headers=AUTH).status_code == 201
        stage(r, config, [make_alert(1)], ["ana"])
        assert outbox.deliver_pass(r, config, policy=FAST).sent == 1
        (msg,) = smtp.messages
        url = urlsplit(msg["List-Unsubscribe"].strip("<>"))
        resp = app.post(f"{url.path}?{url.query}", content=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status_code == 200
        assert subs.get(r, config, "ana") is None
        stage(r, config, [make_alert(2)], ["ana"])  # queued before, dropped now
        assert outbox.deliver_pass(r, config, policy=FAST).sent == 0 and len(smtp.messages) == 1
    finally:
        smtp.stop()
