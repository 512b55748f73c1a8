"""Real components for tests: a redis-server on a free loopback port, local HTTP servers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from scheduler.receivers import MailSink, WebhookReceiver

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


# --- a real SMTP server and a real webhook receiver on loopback (scheduler/receivers.py) -------------


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback: ``.messages``, ``.envelopes``, ``.port``, ``.clear()``."""
    server = MailSink().start()
    yield server
    server.stop()


@pytest.fixture
def webhook_receiver():
    """A real HTTP receiver on loopback: ``.requests`` ({path, headers, body}), settable ``.status``."""
    receiver = WebhookReceiver(status=204).start()
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


@pytest.fixture
def seeded(redis_client):
    """Redis with the record ledger loaded from the shared daily Air Force table."""
    from alerts import ledger
    from tests.test_alerts_helpers import DAILY_CSV

    if not DAILY_CSV.is_file():
        pytest.skip("shared/data CSV missing")
    ledger.seed_from_csv(redis_client, DAILY_CSV)
    return redis_client
