"""Sentry reporting against a local HTTP receiver standing in for Sentry's ingest endpoint."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


class SentryIngest:
    """Accepts POST /api/<project>/envelope/ and keeps the decoded envelope items."""

    def __init__(self):
        self.items: list[dict] = []
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":
                    import brotli

                    body = brotli.decompress(body)
                for line in body.splitlines():
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict) and {"exception", "logentry", "message"} & obj.keys():
                        ingest.items.append(obj)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server.server_address[1]}/42"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ingest():
    server = SentryIngest()
    yield server
    server.close()


def run_python(code: str, env_extra: dict) -> subprocess.CompletedProcess:
    import os

    env = os.environ | env_extra
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=60)


def test_job_failure_and_logged_crawl_error_reach_sentry_without_pii(ingest):
    code = """
import logging, os
import sentry_sdk
from tallywatch.observability import init_sentry, report_exception
assert init_sentry(os.environ['DSN'])
logging.getLogger('crawler').error('crawl kyiv-daily failed: HTTP 500 on https://example.org/feed')
try:
    raise RuntimeError('job exploded')
except RuntimeError as e:
    report_exception(e, source='kyiv-daily', job='crawl')
sentry_sdk.flush(5)
"""
    proc = run_python(code, {"DSN": ingest.dsn})
    assert proc.returncode == 0, proc.stderr
    messages = [json.dumps(i.get("logentry") or i.get("message")) for i in ingest.items]
    assert any("crawl kyiv-daily failed" in m for m in messages), ingest.items
    exc = [i for i in ingest.items if "exception" in i]
    assert exc and exc[0]["exception"]["values"][-1]["value"] == "job exploded"
    assert exc[0]["tags"]["source"] == "kyiv-daily"
    for item in ingest.items:  # send_default_pii=False: no user data attached
        assert "ip_address" not in json.dumps(item.get("user", {}))


def test_no_dsn_means_no_sentry():
    from tallywatch.observability import init_sentry

    assert init_sentry(None) is False
    assert init_sentry("") is False


def test_crawl_errors_reach_sentry(ingest, tmp_path, news_site, redis_server):
    """`tallywatch crawl` against a feed answering 500: the crawl error is a Sentry event."""
    import os

    news_site.set_raw("/feeds/broken.xml", status=500, body="oops")
    config = tmp_path / "tw.toml"
    config.write_text(f"""[settings]
download_delay = 0
[[sources]]
id = "broken"
kind = "rss"
url = "{news_site.url('/feeds/broken.xml')}"
schedule = "every 10m"
""")
    env = os.environ | {"REDIS_URL": redis_server.url, "SENTRY_DSN": ingest.dsn}
    proc = subprocess.run([sys.executable, "-m", "scheduler.cli", "crawl", "--config", str(config)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "broken: ok" in proc.stdout and "errors 1" in proc.stdout
    messages = [json.dumps(i.get("logentry") or i.get("message")) for i in ingest.items]
    assert any("crawl broken had 1 errors (http_errors 1)" in m or "crawl %s had %d errors" in m for m in messages), \
        ingest.items
