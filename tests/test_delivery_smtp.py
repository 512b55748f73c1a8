"""The SMTP transports against a real aiosmtpd: plain, STARTTLS with login, implicit TLS."""

import ssl
from datetime import UTC, date, datetime

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from alerts.mail import MailError, build_message, send_message
from alerts.models import Alert
from scheduler.receivers import MailSink
from tallywatch.config import SmtpSettings, Subscriber

SUB = Subscriber(id="ed", email="ed@example.org")


def _alerts():
    return [Alert(kind="record", key="record:2025-07-04:drones_launched:539",
                  title="NEW RECORD: 539 drones in one night (previous 537, 29 June)", night=date(2025, 7, 4),
                  place="Kyiv", metric="drones_launched", url="https://news.example/a", outlet="CNN",
                  created_at=datetime(2025, 7, 4, 7, tzinfo=UTC))]


def _server_context(tls_cert):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*map(str, tls_cert))
    return ctx


def _auth(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"tw", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def trust(tls_cert, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))


def test_message_id_is_deterministic():
    smtp = SmtpSettings(sender="Tallywatch <alerts@tw.example>")
    a = build_message(_alerts(), SUB, smtp)
    b = build_message(_alerts(), SUB, smtp)
    assert a["Message-ID"] == b["Message-ID"] and a["Message-ID"].endswith("@tw.example>")
    other = build_message(_alerts(), Subscriber(id="other", email="o@example.org"), smtp)
    assert other["Message-ID"] != a["Message-ID"]


def test_starttls_with_login(tls_cert, trust):
    server = MailSink(tls_context=_server_context(tls_cert), require_starttls=True, auth_required=True,
                      authenticator=_auth, auth_exclude_mechanism=["LOGIN"]).start()
    try:
        smtp = SmtpSettings(host="localhost", port=server.port, tls="starttls", username="tw", password="s3cret",
                            sender="alerts@tw.example", timeout=5)
        send_message(build_message(_alerts(), SUB, smtp), smtp)
        assert [m["To"] for m in server.messages] == ["ed@example.org"]
        with pytest.raises(MailError) as err:
            bad = SmtpSettings(**{**smtp.__dict__, "password": "wrong"})
            send_message(build_message(_alerts(), SUB, bad), bad)
        assert "535" in str(err.value) or "uthentication" in str(err.value)
        with pytest.raises(MailError):  # the server insists on STARTTLS
            plain = SmtpSettings(**{**smtp.__dict__, "tls": "none"})
            send_message(build_message(_alerts(), SUB, plain), plain)
    finally:
        server.stop()


def test_implicit_tls(tls_cert, trust):
    server = MailSink(ssl_context=_server_context(tls_cert)).start()
    try:
        smtp = SmtpSettings(host="localhost", port=server.port, tls="ssl", sender="alerts@tw.example", timeout=5)
        send_message(build_message(_alerts(), SUB, smtp), smtp)
        (msg,) = server.messages
        assert msg["Subject"] == "[tallywatch] NEW RECORD: 539 drones in one night (previous 537, 29 June)"
    finally:
        server.stop()


def test_untrusted_certificate_is_refused(tls_cert):
    server = MailSink(ssl_context=_server_context(tls_cert)).start()
    try:
        smtp = SmtpSettings(host="localhost", port=server.port, tls="ssl", timeout=5)
        with pytest.raises(MailError):
            send_message(build_message(_alerts(), SUB, smtp), smtp)
        assert server.messages == []
    finally:
        server.stop()
