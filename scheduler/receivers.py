"""Local stand-ins for a subscriber's side, used by ``tallywatch demo`` and the end-to-end tests:
a real SMTP server (aiosmtpd) that saves each message as an .eml file, and an HTTP webhook receiver
that verifies Standard Webhooks signatures and saves each delivery as JSON."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


class _SaveMail:
    def __init__(self, sink: MailSink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.sink._save(envelope.mail_from, envelope.rcpt_tos, envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


class MailSink:
    """aiosmtpd on 127.0.0.1:<port>. ``messages``: the mails parsed with email.policy.default;
    ``envelopes``: (mail_from, rcpt_tos); with ``outdir`` each is also saved as 001.eml, 002.eml, ...
    Keyword arguments go to aiosmtpd's Controller/SMTP: ``tls_context`` + ``require_starttls``
    (STARTTLS), ``ssl_context`` (implicit TLS), ``authenticator``, ``auth_required``, ``auth_require_tls``."""

    def __init__(self, outdir: Path | None = None, port: int = 0, **smtp_kwargs):
        self.outdir = Path(outdir) if outdir else None
        if self.outdir:
            self.outdir.mkdir(parents=True, exist_ok=True)
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self.controller = Controller(_SaveMail(self), hostname="127.0.0.1", port=port or _free_port(), **smtp_kwargs)

    @property
    def port(self) -> int:
        return self.controller.port

    def _save(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        with self._lock:
            self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
            self.envelopes.append((mail_from, list(rcpt_tos)))
            if self.outdir:
                (self.outdir / f"{len(self.messages):03d}.eml").write_bytes(raw)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: dict | None = None
    error: str | None = None


@dataclass
class WebhookReceiver:
    """An HTTP endpoint on 127.0.0.1 answering ``status`` (settable at any time) to every POST.
    ``requests``: every POST as {path, headers (lower-case names), body}; with a ``secret`` each is
    also checked against its Standard Webhooks signature (``deliveries``)."""

    secret: str | None = None
    outdir: Path | None = None
    status: int = 200
    deliveries: list[Delivery] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)

    def __post_init__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._record(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/tallywatch"

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            status = self.status
        if self.secret is None:
            return status
        try:
            payload, verified, error = Webhook(self.secret).verify(body, headers), True, None
        except WebhookVerificationError as e:
            payload, verified, error = None, False, str(e)
        with self._lock:
            self.deliveries.append(Delivery(headers, body, verified, payload, error))
            if self.outdir:
                self.outdir.mkdir(parents=True, exist_ok=True)
                record = {"headers": headers, "signature_verified": verified, "error": error,
                          "payload": payload if verified else body.decode("utf-8", "replace")}
                path = self.outdir / f"{len(self.deliveries):03d}.json"
                path.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
        return status

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
