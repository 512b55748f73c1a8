"""Event assignment (alerts.grouping): places, nights, and the Grouper over several outlets."""

from __future__ import annotations

from datetime import date, datetime

from alerts.grouping import (
    CITY,
    COUNTRY,
    REGION,
    Grouper,
    Place,
    event_id,
    event_url,
    local_cue,
    normalize_place,
    parse_event_id,
    place_figures,
)
from tallywatch.models import Article, Figure


def art(url, outlet, published, figures, title="", body="", version=1):
    return Article(url=url, outlet=outlet, source_id=outlet.lower(), title=title, body=body,
                   published=datetime.fromisoformat(published), figures=figures, version=version)


# --- places ----------------------------------------------------------------------------------------


def test_place_spellings_descriptions_and_districts_resolve_to_one_city():
    kyiv = Place("Kyiv", CITY)
    for name in ("Kyiv", "Kiev", "the Ukrainian capital", "Ukraine's capital", "Holosiivskyi district",
                 "Obolon", "Kyiv city", "the city of Kyiv", "Київ"):
        assert normalize_place(name) == kyiv, name
    assert normalize_place("the Russian capital") == Place("Moscow", CITY)


def test_regions_countries_and_the_default():
    assert normalize_place("Kharkiv oblast") == Place("Kharkiv region", REGION)
    assert normalize_place("Kharkov region") == Place("Kharkiv region", REGION)
    assert normalize_place("Kyivska oblast") == Place("Kyiv region", REGION)
    assert normalize_place("Crimea") == Place("Crimea", REGION)
    assert normalize_place("Ukraine") == Place("Ukraine", COUNTRY)
    assert normalize_place(None) == Place("Ukraine", COUNTRY)
    assert normalize_place("  ") == Place("Ukraine", COUNTRY)
    # a district name several cities have: the article decides, or it stays as written
    assert normalize_place("Shevchenkivskyi district", "Strikes on Kharkiv overnight").name == "Kharkiv"
    assert normalize_place("Shevchenkivskyi district", "Lviv was hit").name == "Lviv"


def test_local_cue_in_a_sentence():
    assert local_cue("Two people died in the Ukrainian capital.") == Place("Kyiv", CITY)
    assert local_cue("A fire broke out in the Sviatoshynskyi district.") == Place("Kyiv", CITY)
    assert local_cue("Russia launched 300 drones at Ukraine.") is None


def test_event_ids_and_urls():
    assert event_id(date(2025, 7, 4), "Kiev") == "2025-07-04-kyiv"
    assert event_id(date(2025, 7, 4), Place("Kharkiv region", REGION)) == "2025-07-04-kharkiv-region"
    assert event_url("https://tw.example/", date(2025, 7, 4), "the Ukrainian capital") == \
        "https://tw.example/events/2025-07-04-kyiv"
    assert parse_event_id("2025-07-04-sergiyev-posad") == (date(2025, 7, 4), "sergiyev-posad")
    assert parse_event_id("2025-13-04-x") is None and parse_event_id("<script>") is None


# --- nights ----------------------------------------------------------------------------------------


def test_night_stated_inherited_in_the_paragraph_or_from_publication():
    body = ("A missile hit Poltava on Thursday, killing two. The strike also injured 47.\n"
            "In Kyiv 14 were injured overnight.")
    a = art("https://w.example/1", "Wire", "2025-07-04T08:00:00+03:00", [
        Figure("killed", 2, location="Poltava", night=date(2025, 7, 3),
               sentence="A missile hit Poltava on Thursday, killing two."),
        Figure("injured", 47, location="Poltava", sentence="The strike also injured 47."),
        Figure("injured", 14, location="Kyiv", sentence="In Kyiv 14 were injured overnight."),
    ], body=body)
    got = {(p.figure.metric, p.place.name): (p.night, p.reason) for p in place_figures(a)}
    assert got[("killed", "Poltava")] == (date(2025, 7, 3), "stated")
    assert got[("injured", "Poltava")] == (date(2025, 7, 3), "same paragraph")
    assert got[("injured", "Kyiv")] == (date(2025, 7, 4), "published")
    # figures whose sentences are not in the body (no paragraph known) inherit nothing
    bare = art("https://w.example/2", "Wire", "2025-07-04T08:00:00+03:00", [
        Figure("aerial_weapons_launched", 537, location="Ukraine", night=date(2025, 6, 29)),
        Figure("drones_launched", 539, location="Ukraine")])
    assert sorted(p.event_id for p in place_figures(bare)) == ["2025-06-29-ukraine", "2025-07-04-ukraine"]


def test_evening_publication_words_decide_the_night():
    figs = [Figure("killed", 3, location="Odesa", sentence="Three were killed in Odesa.")]
    tonight = art("https://l.example/a", "Local", "2025-08-10T22:40:00+03:00", figs,
                  body="Odesa is under attack right now. Three were killed in Odesa.")
    morning = art("https://l.example/b", "Local", "2025-08-10T21:00:00+03:00", figs,
                  body="Overnight strikes on Odesa: three were killed in Odesa.")
    assert [p.night for p in place_figures(tonight)] == [date(2025, 8, 11)]
    assert [p.night for p in place_figures(morning)] == [date(2025, 8, 10)]
    # after midnight in Kyiv (still the 10th in UTC) is the morning that ends the night
    late = art("https://l.example/c", "Local", "2025-08-10T22:30:00+00:00", figs, body="Three were killed.")
    assert [p.night for p in place_figures(late)] == [date(2025, 8, 11)]


def test_later_versions_keep_the_first_versions_night():
    v1 = art("https://l.example/t", "Local", "2025-08-10T07:00:00+03:00",
             [Figure("killed", 5, location="Dnipro")])
    v2 = art("https://l.example/t", "Local", "2025-08-11T09:00:00+03:00",
             [Figure("killed", 9, location="Dnipro")], version=2)
    g = Grouper.group([[v1, v2]])
    assert list(g.events) == ["2025-08-10-dnipro"]


# --- the Grouper -----------------------------------------------------------------------------------


def test_two_nights_in_a_row_in_one_city_stay_two_events():
    mon = art("https://k.example/mon", "Kharkiv Today", "2025-09-01T07:10:00+03:00",
              [Figure("injured", 6, location="Kharkiv", sentence="Six people were hurt in Kharkiv overnight.")],
              title="Kharkiv hit by drones overnight", body="Six people were hurt in Kharkiv overnight.")
    tue = art("https://k.example/tue", "Kharkiv Today", "2025-09-02T06:50:00+03:00",
              [Figure("injured", 11, location="Kharkiv", sentence="Eleven were hurt in Kharkiv overnight.")],
              title="Kharkiv hit by drones again", body="Eleven were hurt in Kharkiv overnight.")
    g = Grouper.group([[mon], [tue]])
    assert sorted(g.events) == ["2025-09-01-kharkiv", "2025-09-02-kharkiv"]


def test_local_and_wire_outlet_naming_the_target_differently_share_one_event():
    local = art("https://kyiv-local.example/holosiiv", "Kyiv Local", "2025-08-01T06:30:00+03:00",
                [Figure("killed", 3, location="Holosiivskyi district",
                        sentence="Three residents of Holosiivskyi district were killed.")],
                title="Three killed in Holosiivskyi", body="Three residents of Holosiivskyi district were killed.")
    wire = art("https://wire.example/kyiv", "Wire", "2025-08-01T09:05:00+03:00",
               [Figure("killed", 4, location="Ukraine",
                       sentence="Four people were killed in the Ukrainian capital, officials said."),
                Figure("drones_launched", 310, location="Ukraine",
                       sentence="Russia launched 310 drones at Ukraine, the air force said.")],
               title="Russia strikes Ukraine", body="Four people were killed in the Ukrainian capital.")
    g = Grouper.group([[local], [wire]])
    kyiv = g.events["2025-08-01-kyiv"]
    assert kyiv.article_ids == [local.id, wire.id]
    assert kyiv.names == {"Holosiivskyi district", "the Ukrainian capital"}
    # the national launch count is a country-level event of the same night
    assert "2025-08-01-ukraine" in g.events
    assert [p.figure.metric for p in g.placed if p.event_id == "2025-08-01-ukraine"] == ["drones_launched"]


def test_one_briefing_feeds_several_events():
    brief = art("https://g.example/brief", "Guardian", "2025-07-04T07:30:00+03:00", [
        Figure("injured", 14, location="Kyiv"), Figure("killed", 2, location="Poltava"),
        Figure("injured", 1, location="Sergiyev Posad"), Figure("injured", 5, scope="aggregate", location="Kyiv"),
    ])
    g = Grouper.group([[brief]])
    assert sorted(g.events) == ["2025-07-04-kyiv", "2025-07-04-poltava", "2025-07-04-sergiyev-posad"]
    assert all(e.article_ids == [brief.id] for e in g.events.values())


def test_an_article_without_figures_joins_the_event_it_resembles():
    fig = art("https://a.example/1", "A", "2025-07-04T07:00:00+03:00",
              [Figure("injured", 23, location="Kyiv", sentence="23 wounded in Kyiv")],
              title="Record drone attack on Kyiv", body="Russia hit Kyiv with a record drone attack overnight; "
              "23 wounded in Kyiv. Shelters in the metro were full.")
    quotes = art("https://b.example/2", "B", "2025-07-04T10:00:00+03:00", [],
                 title="Zelensky: record drone attack on Kyiv was cynical",
                 body="The president said the record drone attack on Kyiv overnight was cynical.")
    other = art("https://c.example/3", "C", "2025-07-04T10:00:00+03:00", [],
                title="Grain exports rise", body="Ukraine's grain exports rose in June, traders said.")
    g = Grouper.group([[fig], [quotes], [other]])
    assert g.events["2025-07-04-kyiv"].article_ids == [fig.id, quotes.id]


def test_an_evening_report_without_wording_cues_goes_to_the_night_it_resembles():
    # the morning's reports of the 5th describe an attack on a port and a grain terminal; an evening
    # article on the 5th repeating them (no "tonight", no "overnight") is about that night, while one
    # about the next night's hospital strike, once known, goes to the 6th
    morning = art("https://o.example/m", "Odesa News", "2025-09-05T07:00:00+03:00",
                  [Figure("injured", 4, location="Odesa", sentence="Four injured at the port grain terminal")],
                  title="Port and grain terminal hit in Odesa", body="Four injured at the port grain terminal.")
    next_night = art("https://o.example/n", "Odesa News", "2025-09-06T05:00:00+03:00",
                     [Figure("killed", 2, location="Odesa", sentence="Two killed as a maternity hospital was hit")],
                     title="Maternity hospital struck in Odesa", body="Two killed as a maternity hospital was hit.")
    evening = art("https://w.example/e", "Wire", "2025-09-05T20:30:00+03:00",
                  [Figure("killed", 2, location="Odesa", sentence="Two killed at a maternity hospital")],
                  title="Maternity hospital in Odesa hit", body="Two killed at a maternity hospital in Odesa.")
    g = Grouper.group([[morning], [next_night], [evening]])
    (p,) = [p for p in g.placed if p.article_id == evening.id]
    assert p.event_id == "2025-09-06-odesa" and p.reason.startswith("evening: like")
    # with nothing known about the coming night it stays with the day it was published
    g2 = Grouper.group([[morning], [evening]])
    assert [p.event_id for p in g2.placed if p.article_id == evening.id] == ["2025-09-05-odesa"]
