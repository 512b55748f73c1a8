"""Real components for tests: a redis-server on a free loopback port, local HTTP servers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

SEED = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "seed"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, workdir: Path, appendonly: bool = True):
        self.workdir = workdir
        self.port = free_port()
        self.appendonly = appendonly
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if not exe:
            pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--appendonly", "yes" if self.appendonly else "no", "--save", "", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    if not SEED.is_dir():
        pytest.skip(f"seed corpus not found at {SEED}")
    return SEED


# --- a real SMTP server and a real webhook receiver on loopback ------------------------------------


class SmtpSink:
    """aiosmtpd on 127.0.0.1:<port>; ``messages`` are the received mails parsed with email.policy.default,
    ``envelopes`` the (mail_from, rcpt_tos) pairs. Keyword arguments go to aiosmtpd's Controller/SMTP:
    ``tls_context`` + ``require_starttls`` (STARTTLS), ``ssl_context`` (implicit TLS), ``authenticator``,
    ``auth_required``, ``auth_require_tls``."""

    def __init__(self, **smtp_kwargs):
        import email
        import email.policy
        import threading

        from aiosmtpd.controller import Controller

        sink = self
        self.messages: list = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook name)
                raw = envelope.original_content or envelope.content
                with sink._lock:
                    sink.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
                    sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **smtp_kwargs)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def clear(self):
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()


@pytest.fixture
def smtp_server():
    server = SmtpSink().start()
    yield server
    server.stop()


class WebhookReceiver:
    """http.server in a thread; records every POST (path, headers with lower-case names, body) and
    answers ``status`` (settable at any time)."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self
        self.requests: list[dict] = []
        self.status = 204
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.requests.append({"path": self.path, "headers": headers, "body": body})
                    status = receiver.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def news_site():
    """A local news site (scheduler/newssite.py) on a free loopback port; add feeds/articles in the test."""
    from scheduler.newssite import NewsSite

    site = NewsSite().start()
    yield site
    site.stop()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    """A self-signed certificate for localhost / 127.0.0.1: (certfile, keyfile). Clients trust it with
    ``ssl.create_default_context(cafile=certfile)`` or SSL_CERT_FILE=certfile."""
    import datetime
    import ipaddress

    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    certfile, keyfile = d / "cert.pem", d / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return certfile, keyfile
