"""Helpers (no tests) shared by the alerts tests: the seed scenario (night of 3-4 July 2025) as
writing an article version into Redis exactly the way the crawler does."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from tallywatch.config import Config, Settings, SmtpSettings, Subscriber
from tallywatch.models import Article, Figure
from tallywatch.store import ARTICLE_STREAM, ARTICLES_INDEX, article_key, article_versions_key

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DAILY_CSV = DATA / "missile_attacks_daily.csv"

# the seed scenario's alerts, as a subscriber reads them
RECORD_TITLE = "NEW RECORD: 539 drones in one night (previous 537, 29 June)"
DIVERGING_TITLE = "DIVERGING: injured 23 (CNN, at least) vs 14 (The Guardian) — Kyiv, night of 3-4 July"
CHANGED_TITLE = "CHANGED: injured 23 → 26 (CNN)"

CNN_URL = "https://edition.cnn.com/2025/07/04/europe/russia-ukraine-record-drone-attack-kyiv-intl"
GUARDIAN_URL = "https://www.theguardian.com/world/2025/jul/04/ukraine-war-briefing-kyiv-attack"
SECRET = "whsec_" + base64.b64encode(b"tallywatch-test-secret-0123456789").decode()


def cnn_article(injured: int = 23, version: int = 1) -> Article:
    return Article(
        url=CNN_URL,
        outlet="CNN",
        source_id="cnn",
        title="Russia launches record number of drones at Ukraine",
        body=f"Russia launched a record 539 drones ... at least {injured} people were wounded.",
        published=datetime.fromisoformat("2025-07-04T06:45:00+00:00"),
        version=version,
        figures=[
            Figure("drones_launched", 539, record=True, location="Kyiv",
                   sentence="Russia launched a record 539 drones and 11 missiles at Ukraine overnight."),
            Figure("drones_intercepted", 476, location="Kyiv", sentence="476 drones were intercepted."),
            Figure("missiles_launched", 11, location="Kyiv",
                   sentence="Russia launched a record 539 drones and 11 missiles at Ukraine overnight."),
            Figure("injured", injured, qualifier="at_least", location="Kyiv",
                   sentence=f"At least {injured} people were wounded in Kyiv."),
            Figure("aerial_weapons_launched", 537, record=True, location="Ukraine", night=date(2025, 6, 29),
                   sentence="Five days ago Russia fired 537 drones and missiles, the previous record."),
            Figure("missiles_launched", 330, qualifier="more_than", scope="aggregate", location="Ukraine",
                   sentence="In June alone Russia fired more than 330 missiles."),
            Figure("ballistic_missiles_launched", 80, qualifier="approx", scope="aggregate", location="Ukraine",
                   sentence="including about 80 ballistic missiles"),
            Figure("drones_launched", 5000, scope="aggregate", location="Ukraine",
                   sentence="and 5,000 drones"),
            Figure("glide_bombs_launched", 5000, scope="aggregate", location="Ukraine",
                   sentence="and 5,000 glide bombs"),
        ],
    )


def guardian_article() -> Article:
    return Article(
        url=GUARDIAN_URL,
        outlet="The Guardian",
        source_id="guardian",
        title="Ukraine war briefing: Kyiv hit by biggest air attack of the war",
        body="Fourteen people were injured in Kyiv ...",
        published=datetime.fromisoformat("2025-07-04T04:30:00+00:00"),
        figures=[
            Figure("injured", 14, location="Kyiv", sentence="14 people were injured in Kyiv, officials said."),
            Figure("killed", 2, location="Poltava", sentence="Two people were killed in Poltava."),
            Figure("injured", 47, location="Poltava", sentence="47 were injured in Poltava."),
            Figure("injured", 1, location="Sergiyev Posad", sentence="One person was injured in Sergiyev Posad."),
        ],
    )


def write_article(redis, article: Article) -> str:
    """As the crawler does: RPUSH the version, HSET the article, XADD the stream entry."""
    d = article.to_dict()
    redis.rpush(article_versions_key(article.id), json.dumps(d))
    redis.hset(article_key(article.id), mapping={
        "url": article.url, "outlet": article.outlet, "source_id": article.source_id,
        "version": article.version, "fingerprint": d["fingerprint"],
    })
    redis.zadd(ARTICLES_INDEX, {article.id: 1751600000}, nx=True)
    return redis.xadd(ARTICLE_STREAM, {"article_id": article.id, "version": str(article.version)})


def make_config(*subscribers: Subscriber, smtp_port: int = 25, webhook_timeout: float = 5.0) -> Config:
    settings = Settings(
        public_url="http://tallywatch.test",
        webhook_timeout=webhook_timeout,
        smtp=SmtpSettings(host="127.0.0.1", port=smtp_port, sender="alerts@tallywatch.test", timeout=5.0),
    )
    return Config(settings=settings, sources=(), subscribers=tuple(subscribers))


def with_kinds(sub: Subscriber, *kinds: str) -> Subscriber:
    return replace(sub, kinds=kinds)
