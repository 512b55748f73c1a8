"""The defining scenario, end to end through Redis: night of 3-4 July 2025, CNN vs The Guardian."""

from dataclasses import replace
from datetime import UTC, date, datetime

from alerts import ledger
from alerts.detect import detect
from alerts.events import article_night, diverge, event_figures
from alerts.history import recent_alerts
from alerts.models import Alert, night_label
from alerts.process import process_pending
from tallywatch.config import Subscriber
from tallywatch.models import Article, Figure
from tallywatch.store import ALERTS_GROUP, ARTICLE_STREAM
from tests.test_alerts_helpers import (
    CHANGED_TITLE,
    CNN_URL,
    DIVERGING_TITLE,
    RECORD_TITLE,
    cnn_article,
    guardian_article,
    make_config,
    write_article,
)


def titles(alerts):
    return sorted(a.title for a in alerts)


def test_intervals():
    assert not diverge(23, "at_least", 23, "exact")
    assert diverge(14, "exact", 23, "at_least")
    assert diverge(23, "more_than", 23, "exact")
    assert not diverge(100, "approx", 109, "exact")
    assert diverge(100, "approx", 115, "exact")
    assert not diverge(10, "up_to", 10, "at_least")
    assert diverge(10, "up_to", 11, "more_than")
    assert not diverge(10, "up_to", 5, "exact")


def test_night_of_an_article():
    a = Article(url="u", outlet="o", source_id="s", title="", body="",
                published=datetime.fromisoformat("2025-07-04T06:45:00+00:00"))
    assert article_night(a) == date(2025, 7, 4)
    a.published = datetime.fromisoformat("2025-07-03T22:30:00+00:00")  # 01:30 in Kyiv on the 4th
    assert article_night(a) == date(2025, 7, 4)
    assert night_label(date(2025, 7, 4)) == "night of 3-4 July"
    assert night_label(date(2025, 7, 1)) == "night of 30 June-1 July"


def test_scenario_through_the_stream(seeded):
    r = seeded
    config = make_config()  # no subscribers: decisions only
    write_article(r, cnn_article())
    first = process_pending(r, config)
    assert titles(first) == [RECORD_TITLE]
    record = first[0]
    assert record.kind == "record" and record.key == "record:2025-07-04:drones_launched:539"
    assert record.previous["metric"] == "aerial_weapons_launched"
    assert record.previous["label"] == "drones and missiles"
    assert (record.place, record.night, record.url) == ("Kyiv", date(2025, 7, 4), CNN_URL)

    # the earlier night's 537 went to the ledger, without an alert
    assert ledger.night_best(r, "aerial_weapons_launched", date(2025, 6, 29), news_only=True).value == 537

    write_article(r, guardian_article())
    second = process_pending(r, config)
    assert titles(second) == [DIVERGING_TITLE]
    div = second[0]
    assert [(v["outlet"], v["value"], v["qualifier"]) for v in div.values] == [
        ("CNN", 23, "at_least"), ("The Guardian", 14, "exact")]

    write_article(r, cnn_article(injured=26, version=2))
    third = process_pending(r, config)
    assert titles(third) == [CHANGED_TITLE]  # and no second DIVERGING for the same pair
    ch = third[0]
    assert ch.change["old"] == 23 and ch.change["new"] == 26 and not ch.change["retracted"]
    assert event_figures(r, date(2025, 7, 4), "Kyiv", "injured")["CNN"].value == 26

    # the log: newest first
    assert [a.title for a in recent_alerts(r, 10)] == [CHANGED_TITLE, DIVERGING_TITLE, RECORD_TITLE]
    assert [a.title for a in recent_alerts(r, 1)] == [CHANGED_TITLE]
    assert all(isinstance(a, Alert) for a in recent_alerts(r, 10))

    # re-running over everything produces nothing new
    assert process_pending(r, config) == []
    r.xgroup_destroy(ARTICLE_STREAM, ALERTS_GROUP)  # re-read the whole stream from the start
    assert process_pending(r, config) == []
    assert len(recent_alerts(r, 100)) == 3


def test_guardian_first_gives_the_same_divergence(seeded):
    r = seeded
    write_article(r, guardian_article())
    write_article(r, cnn_article())
    assert titles(process_pending(r, make_config())) == sorted([RECORD_TITLE, DIVERGING_TITLE])


def test_second_outlet_repeating_the_record_is_not_a_new_record(seeded):
    r = seeded
    write_article(r, cnn_article())
    process_pending(r, make_config())
    other = Article(
        url="https://news.example/record", outlet="Sky News", source_id="sky", title="t", body="b",
        published=datetime.fromisoformat("2025-07-04T08:00:00+00:00"),
        figures=[Figure("drones_launched", 539, record=True, location="Ukraine"),
                 Figure("drones_launched", 530, location="Odesa")],
    )
    write_article(r, other)
    assert process_pending(r, make_config()) == []


def test_reprocessing_an_old_article_against_later_history(seeded):
    """The ledger holds everything up to 2026; the July 2025 article is still judged as of its night."""
    alerts = detect(seeded, cnn_article(), None, datetime.now(UTC))
    assert [a.title for a in alerts if a.kind == "record"] == [RECORD_TITLE]


def test_record_rules_without_total(redis_client):
    r = redis_client
    ledger.record_value(r, "drones_launched", date(2025, 6, 9), 479, source="csv")
    night_article = Article(url="https://x.example/1", outlet="X", source_id="x", title="", body="",
                            published=datetime.fromisoformat("2025-07-04T05:00:00+00:00"),
                            figures=[Figure("drones_launched", 500, location="Ukraine"),
                                     Figure("missiles_launched", 700, scope="aggregate"),
                                     Figure("drones_launched", 480, night=date(2025, 6, 30))])
    alerts = detect(r, night_article)
    # the figure dated 30 June is learned first, and is the record 500 beats
    assert [a.title for a in alerts] == ["NEW RECORD: 500 drones in one night (previous 480, 30 June)"]
    # no ledger at all: only a figure the text calls a record is one
    r.flushdb()
    plain = Article(url="https://x.example/2", outlet="X", source_id="x", title="", body="",
                    published=datetime.fromisoformat("2025-07-04T05:00:00+00:00"),
                    figures=[Figure("drones_launched", 100), Figure("missiles_launched", 50, record=True)])
    assert [a.title for a in detect(r, plain)] == ["NEW RECORD: 50 missiles in one night"]


def test_retracted_figure(redis_client):
    r = redis_client
    v1 = guardian_article()
    v2 = guardian_article()
    v2.version = 2
    v2.figures = [f for f in v2.figures if f.location != "Sergiyev Posad"]
    write_article(r, v1)
    write_article(r, v2)
    alerts = process_pending(r, make_config())
    assert titles(alerts) == ["CHANGED: injured 1 retracted (The Guardian)"]


def test_pending_entries_are_reread_after_a_crash(seeded, smtp_server):
    r = seeded
    config = make_config(Subscriber(id="ed", email="ed@example.org"), smtp_port=smtp_server.port)
    from alerts.process import ensure_group

    ensure_group(r)
    write_article(r, cnn_article())
    # a consumer reads the entry and dies before acknowledging it
    read = r.xreadgroup(ALERTS_GROUP, "worker-1", {ARTICLE_STREAM: ">"}, count=10)
    assert len(read[0][1]) == 1
    assert r.xpending(ARTICLE_STREAM, ALERTS_GROUP)["pending"] == 1
    # the same consumer restarts: its pending entry is processed and delivered
    alerts = process_pending(r, config, consumer="worker-1")
    assert titles(alerts) == [RECORD_TITLE]
    assert r.xpending(ARTICLE_STREAM, ALERTS_GROUP)["pending"] == 0
    assert [m["Subject"] for m in smtp_server.messages] == [f"[tallywatch] {RECORD_TITLE}"]


def test_stale_entries_of_another_consumer_are_claimed(seeded):
    r = seeded
    from alerts.process import ensure_group

    ensure_group(r)
    write_article(r, cnn_article())
    r.xreadgroup(ALERTS_GROUP, "dead-worker", {ARTICLE_STREAM: ">"}, count=10)
    alerts = process_pending(r, make_config(), consumer="worker-2", claim_idle_ms=0)
    assert titles(alerts) == [RECORD_TITLE]
    assert r.xpending(ARTICLE_STREAM, ALERTS_GROUP)["pending"] == 0


def test_hostile_text_in_titles_is_one_line(redis_client):
    evil = Article(url="https://x.example/e", outlet="Evil\r\nBcc: victim@example.org", source_id="e",
                   title="", body="", published=datetime.fromisoformat("2025-07-04T05:00:00+00:00"),
                   figures=[Figure("missiles_launched", 50, record=True, location="Kyiv\n<script>")])
    (alert,) = detect(redis_client, evil)
    assert "\n" not in alert.title and "\r" not in alert.title


def test_lowered_record_in_a_new_version_is_a_change_not_a_record(seeded):
    r = seeded
    write_article(r, cnn_article())
    process_pending(r, make_config())
    v2 = cnn_article(version=2)
    v2.figures = [replace(f, value=530) if f.metric == "drones_launched" and f.scope == "event" else f
                  for f in v2.figures]
    write_article(r, v2)
    assert titles(process_pending(r, make_config())) == ["CHANGED: drones launched 539 → 530 (CNN)"]


def test_new_version_with_a_later_publication_date_is_not_a_retraction(redis_client):
    r = redis_client
    v1 = guardian_article()
    v2 = guardian_article()
    v2.version = 2
    v2.published = datetime.fromisoformat("2025-07-05T09:00:00+00:00")
    v2.figures = [replace(f, value=16) if f.location == "Kyiv" else f for f in v2.figures]
    write_article(r, v1)
    write_article(r, v2)
    alerts = process_pending(r, make_config())
    assert titles(alerts) == ["CHANGED: injured 14 → 16 (The Guardian)"]
    assert alerts[0].night == date(2025, 7, 5)


def test_scenario_without_the_csv_uses_the_articles_own_previous_record(redis_client):
    """An empty ledger: CNN's "537 drones and missiles five days ago" is learned first."""
    write_article(redis_client, cnn_article())
    assert titles(process_pending(redis_client, make_config())) == [RECORD_TITLE]


def test_drone_record_below_the_total_record_shows_the_drone_record(seeded):
    a = Article(url="https://x.example/500", outlet="X", source_id="x", title="", body="",
                published=datetime.fromisoformat("2025-07-04T05:00:00+00:00"),
                figures=[Figure("drones_launched", 500, location="Ukraine")])
    assert [x.title for x in detect(seeded, a)] == ["NEW RECORD: 500 drones in one night (previous 479, 9 June)"]


def test_an_entry_that_keeps_failing_goes_to_the_dead_letter_list(redis_client, monkeypatch):
    import alerts.process as proc
    from tallywatch.store import ALERTS_DEAD_LETTER

    r = redis_client
    write_article(r, guardian_article())

    def boom(*a, **kw):
        raise RuntimeError("extractor output the detector cannot read")

    monkeypatch.setattr(proc, "detect", boom)
    for _ in range(2):
        assert process_pending(r, make_config(), max_attempts=3) == []
        assert r.xpending(ARTICLE_STREAM, ALERTS_GROUP)["pending"] == 1  # kept for a retry
    process_pending(r, make_config(), max_attempts=3)
    assert r.xpending(ARTICLE_STREAM, ALERTS_GROUP)["pending"] == 0
    (dead,) = r.lrange(ALERTS_DEAD_LETTER, 0, -1)
    assert "RuntimeError" in dead
    from alerts.history import delivery_health

    assert any("gave up on: 1" in text for _, text in delivery_health(r))
