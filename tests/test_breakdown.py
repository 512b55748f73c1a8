"""Per-event breakdowns: the seed corpus through `tallywatch breakdown`, and multi-outlet, multi-version
scenarios stored in a real Redis the way the crawler stores them."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date, datetime

import pytest

from alerts.breakdown import EventSet, consensus, load_histories, outlet_name
from alerts.breakdown_cli import cmd_breakdown
from alerts.process import process_pending
from tallywatch.models import Article, Figure
from tests.test_alerts_helpers import guardian_article, make_config, write_article


def run_cli(files, fmt="json"):
    out, err = io.StringIO(), io.StringIO()
    code = cmd_breakdown([str(f) for f in files], fmt, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def metric(ev, name):
    (m,) = [m for m in ev["metrics"] if m["metric"] == name]
    return m


def by_outlet(m):
    return {r["outlet"]: r for r in m["reports"]}


# --- the seed corpus -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_events(seed_dir):
    code, out, err = run_cli(sorted(seed_dir.glob("*.txt")))
    assert code == 0, err
    data = json.loads(out)
    return {e["id"]: e for e in data["events"]}, data


def test_seed_kyiv_event(seed_events):
    events, _ = seed_events
    kyiv = events["2025-07-04-kyiv"]
    assert kyiv["title"] == "Kyiv, night of 3-4 July 2025"
    injured = metric(kyiv, "injured")
    reports = by_outlet(injured)
    assert (reports["CNN"]["value"], reports["CNN"]["qualifier"]) == (23, "at_least")
    assert (reports["The Guardian"]["value"], reports["The Guardian"]["qualifier"]) == (14, "exact")
    assert reports["CNN"]["diverging"] and reports["The Guardian"]["diverging"]
    assert injured["diverging"] == [["CNN", "The Guardian"]]
    assert injured["spread"] == {"min": 14, "max": 23}
    assert injured["consensus"]["status"] == "disputed" and injured["consensus"]["text"] == "14–23"
    drones = by_outlet(metric(kyiv, "drones_launched"))["CNN"]
    assert drones["value"] == 539 and drones["record"]
    assert [d["label"] for d in kyiv["divergences"]] == ["injured"]
    # both outlets with figures are members; each report links its article
    outlets = {a["outlet"] for a in kyiv["articles"]}
    assert {"CNN", "The Guardian"} <= outlets
    assert reports["CNN"]["url"] == "https://example.invalid/cnn-record-drones"


def test_seed_other_events_of_the_briefing(seed_events):
    events, data = seed_events
    places = {e["place"]: e for e in events.values()}
    assert "Poltava" in places and "Sergiyev Posad" in places
    assert places["Poltava"]["id"] != places["Sergiyev Posad"]["id"] != "2025-07-04-kyiv"
    assert by_outlet(metric(places["Poltava"], "killed"))["The Guardian"]["value"] == 2
    assert by_outlet(metric(places["Sergiyev Posad"], "injured"))["The Guardian"]["value"] == 1
    # the syndicated copy is skipped, not counted twice
    assert len(data["copies_skipped"]) == 1


def test_table_format_and_unreadable_files(seed_dir, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"TITLE: caf\xe9\n\nbody")
    code, out, err = run_cli([tmp_path / "missing.txt", seed_dir / "cnn-record-drones.txt", bad], fmt="table")
    assert code == 1
    assert "missing.txt: cannot read" in err and "latin1.txt: not UTF-8" in err
    assert "EVENT 2025-07-04-kyiv  Kyiv, night of 3-4 July 2025" in out
    assert "539 (record)" in out


def test_versions_given_as_files(tmp_path):
    """Files with one URL are versions of one article: the timeline shows the toll rising."""
    paths = []
    for i, n in enumerate((8, 16, 27)):
        p = tmp_path / f"v{i}.txt"
        p.write_text(f"URL: https://dnipro.example/strike\nOUTLET: Dnipro Live\nDATE: 2025-08-20T0{7 + i}:00:00+03:00\n"
                     f"TITLE: Missile strike on Dnipro\n\nThe death toll from the missile strike on Dnipro has "
                     f"risen to {n}, the regional governor said.\n", encoding="utf-8")
        paths.append(p)
    code, out, err = run_cli(paths)
    assert code == 0, err
    (ev,) = json.loads(out)["events"]
    killed = by_outlet(metric(ev, "killed"))["Dnipro Live"]
    assert killed["timeline_text"] == "8 → 16 → 27" and killed["value"] == 27 and killed["version"] == 3
    assert ev["articles"][0]["versions"] == 3


# --- consensus -------------------------------------------------------------------------------------


def rep(outlet, value, qualifier="exact", official=None, time="2025-07-04T08:00:00+03:00"):
    return {"outlet": outlet, "value": value, "qualifier": qualifier, "official": official, "time": time}


def test_consensus_rules():
    assert consensus([rep("A", 23, "at_least"), rep("B", 23)])["text"] == "23"
    assert consensus([rep("A", 23, "at_least"), rep("B", 25, "at_least")])["text"] == "at least 25"
    agreed = consensus([rep("A", 100, "approx"), rep("B", 95, "up_to")])
    assert agreed["status"] == "agreed" and agreed["text"] == "90–95"
    disputed = consensus([rep("A", 23, "at_least"), rep("B", 14)])
    assert disputed["status"] == "disputed" and disputed["preferred"]["outlet"] == "B"  # most conservative
    official = consensus([rep("A", 23, "at_least", official="cited"), rep("B", 14)])
    assert official["preferred"]["outlet"] == "A" and official["basis"] == "official source cited by A"
    own = consensus([rep("A", 23, "at_least", official="cited", time="2025-07-04T09:00:00+03:00"),
                     rep("Air Force", 20, official="source")])
    assert own["preferred"]["outlet"] == "Air Force" and own["basis"] == "official source (Air Force)"
    assert consensus([{**rep("A", 1), "value": None}])["status"] == "retracted"
    assert outlet_name("CNN (inferred)") == "CNN"


# --- multi-version, multi-outlet scenarios in Redis -------------------------------------------------

DNIPRO = "https://dnipro-live.example/strike-toll"
WIRE = "https://wire.example/dnipro"


def dnipro_version(version: int, killed: int, at: str) -> Article:
    when = datetime.fromisoformat(at)
    return Article(
        url=DNIPRO, outlet="Dnipro Live", source_id="dnipro", version=version,
        title=f"Death toll in Dnipro rises to {killed}",
        body=f"The number of people killed in the missile strike on Dnipro has risen to {killed}, "
             f"the regional governor said.",
        published=datetime.fromisoformat("2025-08-20T07:00:00+03:00"), fetched_at=when,
        figures=[Figure("killed", killed, location="Dnipro",
                        sentence=f"The number of people killed has risen to {killed}, the regional governor said.")],
    )


def test_a_toll_rising_over_a_day_and_a_wire_report_in_between(redis_client):
    r = redis_client
    write_article(r, dnipro_version(1, 8, "2025-08-20T07:05:00+03:00"))
    process_pending(r, make_config())
    write_article(r, Article(
        url=WIRE, outlet="Wire", source_id="wire", title="Russian missiles kill 20 in Dnipro",
        body="Twenty people were killed when missiles struck Dnipro.",
        published=datetime.fromisoformat("2025-08-20T12:00:00+03:00"),
        figures=[Figure("killed", 20, location="Dnipro", sentence="Twenty people were killed in Dnipro.")]))
    write_article(r, dnipro_version(2, 16, "2025-08-20T11:00:00+03:00"))
    alerts = process_pending(r, make_config())
    assert any(a.kind == "diverging" and a.place == "Dnipro" for a in alerts)
    # at midday the two current tolls disagree: the range, and the governor's figure to quote
    killed = metric(EventSet(load_histories(r)).breakdown("2025-08-20-dnipro"), "killed")
    reports = by_outlet(killed)
    assert reports["Dnipro Live"]["official"] == "cited" and reports["Wire"]["official"] is None
    assert reports["Wire"]["diverging"] and not reports["Wire"]["superseded"]
    assert killed["consensus"]["status"] == "disputed" and killed["consensus"]["text"] == "16–20"
    assert killed["consensus"]["preferred"]["outlet"] == "Dnipro Live"

    write_article(r, dnipro_version(3, 27, "2025-08-20T18:30:00+03:00"))
    alerts += process_pending(r, make_config())
    # the same history drives CHANGED alerts (alerts.detect) and the breakdown's timeline
    changed = sorted(a.title for a in alerts if a.kind == "changed")
    assert changed == ["CHANGED: killed 16 → 27 (Dnipro Live)", "CHANGED: killed 8 → 16 (Dnipro Live)"]
    ev = EventSet(load_histories(r)).breakdown("2025-08-20-dnipro")
    killed = metric(ev, "killed")
    reports = by_outlet(killed)
    assert reports["Dnipro Live"]["timeline_text"] == "8 → 16 → 27"
    # by evening the wire's 20 is an earlier toll, more than six hours older: outdated, not disputed
    assert reports["Wire"]["superseded"] and not reports["Wire"]["diverging"]
    assert killed["consensus"]["status"] == "agreed" and killed["consensus"]["text"] == "27"
    assert ev["divergences"] == []
    whats = [(t["outlet"], t["what"]) for t in ev["timeline"]]
    assert whats == [("Dnipro Live", "reported 8"), ("Dnipro Live", "updated: 8 → 16"), ("Wire", "reported 20"),
                     ("Dnipro Live", "updated: 16 → 27")]


def test_a_retracted_and_a_lowered_figure(redis_client):
    r = redis_client
    v1 = guardian_article()
    v2 = replace(guardian_article(), version=2, fetched_at=datetime.fromisoformat("2025-07-04T12:00:00+00:00"))
    v2.figures = [f for f in v1.figures if f.location != "Sergiyev Posad"]
    v2.figures = [replace(f, value=40) if (f.metric, f.location) == ("injured", "Poltava") else f for f in v2.figures]
    write_article(r, v1)
    write_article(r, v2)
    events = EventSet(load_histories(r))
    posad = events.breakdown("2025-07-04-sergiyev-posad")
    rep_ = by_outlet(metric(posad, "injured"))["The Guardian"]
    assert rep_["retracted"] and rep_["was"] == "1" and rep_["timeline_text"] == "1 → retracted"
    assert metric(posad, "injured")["consensus"]["status"] == "retracted"
    assert posad["timeline"][-1]["what"] == "retracted (was 1)"
    poltava = events.breakdown("2025-07-04-poltava")
    assert by_outlet(metric(poltava, "injured"))["The Guardian"]["timeline_text"] == "47 → 40"
    assert poltava["timeline"][-1]["what"] == "lowered: 47 → 40"


def test_local_and_wire_names_diverge_within_one_event_in_the_pipeline(redis_client):
    """A local outlet names the district, a wire the capital: one event, so one DIVERGING alert."""
    r = redis_client
    write_article(r, Article(
        url="https://kyiv-local.example/obolon", outlet="Kyiv Local", source_id="kl",
        title="Two killed in Obolon", body="Two people were killed in the Obolonskyi district.",
        published=datetime.fromisoformat("2025-08-01T06:30:00+03:00"),
        figures=[Figure("killed", 2, location="Obolonskyi district",
                        sentence="Two people were killed in the Obolonskyi district.")]))
    write_article(r, Article(
        url="https://wire.example/capital", outlet="Wire", source_id="w", title="Russia strikes Ukraine",
        body="At least five people were killed in the Ukrainian capital.",
        published=datetime.fromisoformat("2025-08-01T09:00:00+03:00"),
        figures=[Figure("killed", 5, qualifier="at_least", location="Ukraine",
                        sentence="At least five people were killed in the Ukrainian capital.")]))
    alerts = process_pending(r, make_config())
    (div,) = [a for a in alerts if a.kind == "diverging"]
    assert div.title == "DIVERGING: killed 5 (Wire, at least) vs 2 (Kyiv Local) — Kyiv, night of 31 July-1 August"
    ev = EventSet(load_histories(r)).breakdown("2025-08-01-kyiv")
    assert set(by_outlet(metric(ev, "killed"))) == {"Kyiv Local", "Wire"}
    assert ev["names"] == ["Obolonskyi district", "the Ukrainian capital"]
    assert date.fromisoformat(ev["night"]) == date(2025, 8, 1)


def test_events_cache_serves_the_old_set_while_it_rebuilds(redis_client):
    import time

    from alerts.breakdown import EventsCache

    r = redis_client
    write_article(r, dnipro_version(1, 8, "2025-08-20T07:05:00+03:00"))
    cache = EventsCache()
    first = cache.get(r)
    assert list(first.events) == ["2025-08-20-dnipro"]
    assert cache.get(r) is first  # nothing new stored: no rebuild
    write_article(r, guardian_article())
    assert cache.get(r) is first  # stale while the rebuild runs in the background
    deadline = time.monotonic() + 10
    while (current := cache.get(r)) is first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "2025-07-04-kyiv" in current.events
    assert cache.get(r, wait=True) is current
