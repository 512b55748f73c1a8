"""Delivery throughput to local servers: webhooks/s (signed POSTs to an http.server on loopback) and
emails/s (aiosmtpd on loopback), through the real outbox (Redis stream, marks, XACK).

    .venv/bin/python bench/delivery.py [--n 1000] [--redis-url redis://...]

Without --redis-url a throw-away redis-server is started (needs redis-server on PATH). Workers are
threads of this process, each a consumer of the outbox group (``tallywatch deliver`` processes scale
the same way, without sharing a GIL).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis as redis_lib  # noqa: E402

from alerts import outbox  # noqa: E402
from alerts import subscriptions as subs  # noqa: E402
from alerts.history import record_alert  # noqa: E402
from alerts.models import Alert  # noqa: E402
from tallywatch.config import Config, Settings, SmtpSettings  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402


def alert(i: int) -> Alert:
    return Alert(kind="record", key=f"record:bench{i:016x}", title=f"NEW RECORD: {500 + i} drones in one night",
                 night=date(2025, 7, 4), place="Kyiv", metric="drones_launched",
                 values=[{"outlet": "CNN", "value": 500 + i, "qualifier": "exact", "url": "https://news.example/a",
                          "sentence": "Russia launched a record number of drones."}],
                 sentence="Russia launched a record number of drones.", url="https://news.example/a",
                 outlet="CNN", created_at=datetime.now(UTC))


def run(r, config: Config, sid: str, n: int, workers: int = 1) -> tuple[float, outbox.PassStats]:
    r.flushdb()
    subs_by_id = {}
    for s in BENCH_SUBS:
        subs.create(r, config, s)
        subs_by_id[s.id] = s
    for i in range(n):  # one delivery per alert (each its own email / POST)
        record_alert(r, alert(i), [sid])
        outbox.enqueue_staged(r, subs_by_id)
    results: list[outbox.PassStats] = []

    def one(j: int) -> None:
        results.append(outbox.deliver_pass(r, config, f"bench{j}", outbox.Policy(max_attempts=1)))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(j,)) for j in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    total = outbox.PassStats()
    for st in results:
        total.sent += st.sent
    return elapsed, total


BENCH_SUBS: list = []


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000, help="deliveries per channel")
    p.add_argument("--redis-url")
    p.add_argument("--workers", type=int, nargs="*", default=[1, 4], help="delivery workers (threads) to try")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    server = None
    if args.redis_url:
        url = args.redis_url
    else:
        server = RedisServer(Path(tempfile.mkdtemp(prefix="tw-bench-")))
        server.start()
        url = server.url
    r = redis_lib.Redis.from_url(url, decode_responses=True)
    hook = Servers()

    settings = Settings(public_url="http://tallywatch.test", allow_private_webhooks=True, email_rate_limit=0,
                        smtp=SmtpSettings(host="127.0.0.1", port=hook.port, sender="alerts@tallywatch.test"))
    config = Config(settings=settings, sources=(), subscribers=())
    BENCH_SUBS[:] = [subs.parse({"id": "hook", "webhook": hook.url}, allow_private=True),
                     subs.parse({"id": "mail", "email": "bench@example.org"})]
    try:
        for workers in args.workers:
            for sid, label in (("hook", "webhooks"), ("mail", "emails")):
                hook.clear()
                elapsed, stats = run(r, config, sid, args.n, workers)
                received = hook.received(sid)
                assert stats.sent == args.n == received, (stats, received)
                print(f"{label:<9} {workers} worker(s): {args.n} delivered in {elapsed:.2f} s: "
                      f"{args.n / elapsed:6.0f}/s ({elapsed / args.n * 1000 * workers:.2f} ms each per worker)")
        # the same, signed with two secrets (a rotation)
        BENCH_SUBS[0] = replace_secrets(BENCH_SUBS[0])
        elapsed, stats = run(r, config, "hook", args.n)
        print(f"webhooks  1 worker(s), 2 signatures each: {args.n / elapsed:6.0f}/s")
    finally:
        hook.stop()
        if server:
            server.stop()
    return 0


def _serve(webhook_port, smtp_port, hooks, mails, ready, stop) -> None:
    """In a child process (no GIL shared with the sender): the webhook receiver and the SMTP sink."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with hooks.get_lock():
                hooks.value += 1
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", webhook_port), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    from aiosmtpd.controller import Controller

    class Mail:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            with mails.get_lock():
                mails.value += 1
            return "250 OK"

    controller = Controller(Mail(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    http.shutdown()


class Servers:
    """The receivers in a child process; ``received(sid)`` counts what arrived."""

    def __init__(self):
        import multiprocessing as mp

        from tests.conftest import free_port

        self.webhook_port, self.port = free_port(), free_port()
        self.hooks, self.mails = mp.Value("i", 0), mp.Value("i", 0)
        self.stop_event, ready = mp.Event(), mp.Event()
        self.proc = mp.Process(target=_serve, args=(self.webhook_port, self.port, self.hooks, self.mails, ready,
                                                    self.stop_event), daemon=True)
        self.proc.start()
        ready.wait(20)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}/hook"

    def clear(self) -> None:
        self.hooks.value = self.mails.value = 0

    def received(self, sid: str) -> int:
        return self.hooks.value if sid == "hook" else self.mails.value

    def stop(self) -> None:
        self.stop_event.set()
        self.proc.join(10)


def replace_secrets(sub):
    return sub.model_copy(update={"secrets": [subs.new_secret(), *sub.secrets]})


if __name__ == "__main__":
    sys.exit(main())


