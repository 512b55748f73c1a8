"""Figure extraction: each rule in its own words (not the seed's), plus the seed and dev gold exactly."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from crawler.corpus import read_article_file
from crawler.figures import extract_figures, split_sentences
from crawler.numbers import find_numbers

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "corpus" / "seed"
DEV = ROOT / "corpus" / "dev"
D = dt.date(2025, 7, 4)  # a Friday


def figs(text: str, title: str = "", published=D):
    return extract_figures(title, text, published)


def keys(text: str, title: str = "", published=D):
    return {(f.metric, f.value) for f in figs(text, title, published)}


def one(text: str, metric: str, value: int, published=D):
    found = [f for f in figs(text, published=published) if (f.metric, f.value) == (metric, value)]
    assert found, f"{metric} {value} not found in {figs(text, published=published)}"
    return found[0]


# ------------------------------------------------------------------ numbers
@pytest.mark.parametrize("text,values", [
    ("1,200 drones", [(1200, None)]),
    ("forty-seven people", [(47, None)]),
    ("a dozen drones", [(12, None)]),
    ("two hundred and fifty missiles", [(250, None)]),
    ("between 10 and 12 drones", [(10, 12)]),
    ("10-12 drones", [(10, 12)]),
    ("ten to twelve drones", [(10, 12)]),
    ("the toll rose from 12 to 15", [(12, None), (15, None)]),
    ("F-16 jets, Kh-101 missiles, a 7-year-old, at 04:15, 20%, $50 million, 2.9 percent", []),
    ("dozens of drones and hundreds of missiles", []),
])
def test_numbers(text, values):
    assert [(t.value, t.high) for t in find_numbers(text)] == values


def test_sentence_split_keeps_abbreviations():
    sents = [s for _, s in split_sentences("Mr. Smith said U.S. officials agreed. Then 5 drones fell.")]
    assert sents == ["Mr. Smith said U.S. officials agreed.", "Then 5 drones fell."]


# ------------------------------------------------------------------ metrics and action words
@pytest.mark.parametrize("text,expected", [
    ("Moscow sent 83 Shahed-type drones towards Kharkiv overnight.", {("drones_launched", 83)}),
    ("The region was attacked with 12 UAVs and decoys.", {("drones_launched", 12)}),
    ("Air defences downed 61 drones over the capital.", {("drones_intercepted", 61)}),
    ("Ukrainian units neutralised 30 attack drones.", {("drones_intercepted", 30)}),
    ("Russia fired three Kalibr cruise missiles at the port.", {("cruise_missiles_launched", 3)}),
    ("Two Iskander-M ballistic missiles struck the city centre.", {("ballistic_missiles_launched", 2)}),
    ("The enemy fired five Kinzhal missiles at the airfield.", {("missiles_launched", 5)}),
    ("Russia used 9 cruise and ballistic missiles in the attack.", {("missiles_launched", 9)}),
    ("Warplanes dropped 22 guided aerial bombs on the town.", {("glide_bombs_launched", 22)}),
    ("Russia fired 112 drones and missiles at Ukraine.", {("aerial_weapons_launched", 112)}),
    ("In all, Russia used a total of 87 aerial weapons.", {("aerial_weapons_launched", 87)}),
    ("Russia launched 80 drones and 6 missiles at Odesa.", {("drones_launched", 80), ("missiles_launched", 6)}),
    ("The strike killed four people and wounded 19.", {("killed", 4), ("injured", 19)}),
    ("Six civilians died and eleven were hurt.", {("killed", 6), ("injured", 11)}),
    ("The death toll has climbed to 28, officials said.", {("killed", 28)}),
    ("The number of wounded rose to 64 by evening.", {("injured", 64)}),
])
def test_metrics(text, expected):
    assert keys(text) == expected


@pytest.mark.parametrize("text,expected", [
    # parts of a weapon total that have no verb of their own
    ("Air defences destroyed 30 drones overnight, 12 of which over Kyiv.",
     {("drones_intercepted", 30), ("drones_intercepted", 12)}),
    ("Russia launched 50 drones overnight, including 20 at Lviv.", {("drones_launched", 50), ("drones_launched", 20)}),
    ("Russia launched 50 drones at 12 regions, including 3 in the west.", {("drones_launched", 50)}),
    # a plain noun before a people noun; apposition before the verb; a shared verb
    ("Officials said 3 railway workers were killed in Kharkiv.", {("killed", 3)}),
    ("The strike killed 4 people in Sumy, 3 of them children.", {("killed", 4)}),
    ("Three people, a teacher and her two sons, were killed in Kherson.", {("killed", 3)}),
    ("Russian troops hit the region with 30 glide bombs and 12 drones.",
     {("glide_bombs_launched", 30), ("drones_launched", 12)}),
    ("Russia fired two Kh-59 guided air missiles.", {("cruise_missiles_launched", 2)}),
    # not launches: a stock, a correction notice, a stale toll, a quoted "lost locally"
    ("The fleet kept two submarines armed with 8 Kalibr missiles on standby.", set()),
    ("An earlier version of this story incorrectly said 40 people were killed; 14 were killed.", {("killed", 14)}),
    ("The death toll had stood at 9 on Monday morning.", set()),
    ('Air defences downed 50 drones, and 20 drones were "lost locally".', {("drones_intercepted", 50)}),
])
def test_parts_appositions_and_non_launches(text, expected):
    assert keys(text) == expected


def test_previous_record_set_on_a_date_and_so_far():
    assert one("The previous record of 650 drones was set in August.", "drones_launched", 650).record
    assert one("The largest attack so far came in June, when 600 drones were launched.", "drones_launched", 600).record
    assert not one("The largest attack so far this year involved 400 drones.", "drones_launched", 400).record


def test_a_season_is_a_period():
    assert one("Last winter Russia fired 900 missiles at the grid.", "missiles_launched", 900).scope == "aggregate"


def test_out_of_gives_intercepted_and_launched():
    assert keys("Air defence shot down 44 out of 50 drones.") == {("drones_intercepted", 44), ("drones_launched", 50)}
    assert keys("Nine of the 12 missiles were intercepted.") == {("missiles_intercepted", 9),
                                                                ("missiles_launched", 12)}


def test_elliptical_counts_take_the_weapon_from_context():
    got = keys("Russia launched 75 drones overnight, and 60 were shot down.")
    assert got == {("drones_launched", 75), ("drones_intercepted", 60)}


def test_range_gives_two_figures():
    got = figs("Officials said between 20 and 25 people were injured in Sumy.")
    assert {(f.metric, f.value, f.qualifier) for f in got} == {("injured", 20, "at_least"), ("injured", 25, "up_to")}


def test_casualties_alone_is_not_split():
    assert figs("The missile strike left 31 casualties in the city.") == []
    assert keys("There were 9 casualties: two killed and seven wounded.") == {("killed", 2), ("injured", 7)}


# ------------------------------------------------------------------ qualifiers
@pytest.mark.parametrize("phrase,qual", [
    ("at least 14", "at_least"), ("more than 14", "more_than"), ("over 14", "more_than"),
    ("nearly 14", "approx"), ("about 14", "approx"), ("around 14", "approx"), ("some 14", "approx"),
    ("roughly 14", "approx"), ("almost 14", "approx"), ("up to 14", "up_to"), ("14", "exact"),
])
def test_qualifiers(phrase, qual):
    assert one(f"Russia launched {phrase} drones at Kyiv.", "drones_launched", 14).qualifier == qual


# ------------------------------------------------------------------ scope
@pytest.mark.parametrize("text,scope", [
    ("In May alone, Russia launched 4,100 drones at Ukraine.", "aggregate"),
    ("Since the start of the war, Russia has fired 9,000 missiles.", "aggregate"),
    ("This week, Russia launched 1,300 drones.", "aggregate"),
    ("Over the past month, 210 civilians were killed.", "aggregate"),
    ("Russia launched 90 drones overnight.", "event"),
    ("It was the deadliest strike this year, killing 14 people.", "event"),
])
def test_scope(text, scope):
    (f,) = figs(text)
    assert f.scope == scope


# ------------------------------------------------------------------ records
def test_record_attaches_to_the_record_number():
    got = {(f.metric, f.value): f.record for f in figs(
        "Russia launched a record 640 drones and 20 missiles at Ukraine overnight.")}
    assert got == {("drones_launched", 640): True, ("missiles_launched", 20): False}


def test_superlative_of_the_war_is_a_record_but_hedges_are_not():
    assert one("Russia fired 700 drones at Ukraine in the biggest air attack of the war.",
               "drones_launched", 700).record
    assert not one("Russia fired 400 drones at Ukraine in one of the biggest attacks of the war.",
                   "drones_launched", 400).record
    assert not one("Russia fired 400 drones at Ukraine, the second-largest attack of the war.",
                   "drones_launched", 400).record
    assert not one("Russia fired 400 drones at Ukraine, a near-record number.", "drones_launched", 400).record


def test_earlier_record_gets_its_night():
    f = one("The previous record-setting attack came a week ago, when Russia fired 620 drones at Ukraine.",
            "drones_launched", 620)
    assert f.record and f.night == dt.date(2025, 6, 27)


def test_title_record_cue_marks_the_lead_figure():
    got = figs("Russia launched 810 drones at Ukraine overnight. Air defences downed 700 of them.",
               title="Russia launches its largest drone attack of the war")
    assert {(f.metric, f.value, f.record) for f in got} == {("drones_launched", 810, True),
                                                           ("drones_intercepted", 700, False)}


# ------------------------------------------------------------------ night
@pytest.mark.parametrize("text,night", [
    ("Three days ago Russia fired 40 missiles at Ukraine.", dt.date(2025, 7, 1)),
    ("On Sunday, Russia fired 40 missiles at Ukraine.", dt.date(2025, 6, 29)),
    ("Russia fired 40 missiles at Ukraine on Sunday night.", dt.date(2025, 6, 30)),
    ("Last week's record of 40 missiles still stands.", dt.date(2025, 6, 27)),
    ("Russia fired 40 missiles at Ukraine overnight.", None),
    ("Russia fired 40 missiles at Ukraine early on Friday.", None),  # the article's own night
])
def test_night(text, night):
    (f,) = figs(text)
    assert f.night == night


def test_no_night_without_publication_date():
    (f,) = figs("Three days ago Russia fired 40 missiles at Ukraine.", published=None)
    assert f.night is None


# ------------------------------------------------------------------ location
@pytest.mark.parametrize("text,place", [
    ("Russian drones struck Kiev overnight, injuring 6 people.", "Kyiv"),
    ("A missile hit Kharkov, killing 3 people.", "Kharkiv"),
    ("Shelling of Odessa port killed 2 people.", "Odesa"),
    ("Ukrainian drones attacked the Belgorod region, wounding 4 people.", "Belgorod region"),
    ("A drone hit a factory in Yelabuga, injuring 12 people.", "Yelabuga"),
    ("Russia fired 300 drones at Ukraine overnight.", "Ukraine"),
    ("Russian air defences destroyed 55 Ukrainian drones overnight.", "Russia"),
])
def test_location(text, place):
    (f,) = figs(text)
    assert f.location == place


def test_drone_origins_are_not_the_target():
    (f,) = figs("The enemy attacked with 90 drones from the directions of Kursk and Millerovo.")
    assert f.location == "Ukraine"


def test_the_region_resolves_to_the_articles_place():
    got = extract_figures("Drones over Sumy", "Sumy. 3 civilians were injured in Shostka.\n"
                          "In total, 41 drones were used against the region.", D)
    assert {(f.metric, f.value, f.location) for f in got} == {("injured", 3, "Shostka"),
                                                             ("drones_launched", 41, "Sumy region")}


def test_list_of_places_after_a_colon_belongs_to_the_breakdown():
    got = figs("Russian air defences destroyed 90 Ukrainian drones overnight: 50 over the Belgorod region "
               "and 40 over the Kursk region.")
    assert {(f.value, f.location) for f in got} == {(90, "Russia"), (50, "Belgorod region"), (40, "Kursk region")}


def test_revised_up_to_is_not_a_bound():
    assert one("Officials have revised the death toll up to 16.", "killed", 16).qualifier == "exact"


def test_partitive_total_is_launched():
    assert keys("Of 25 drones that entered the region's airspace, 21 were destroyed.") == {
        ("drones_launched", 25), ("drones_intercepted", 21)}


# ------------------------------------------------------------------ negatives
@pytest.mark.parametrize("text", [
    "Trump said he had held five calls with Putin and would speak again in two weeks.",
    "Ukraine and Russia exchanged 150 prisoners each on Thursday.",
    "The $400 million package includes 3 Patriot launchers and 90 interceptors.",
    "A 7-year-old girl and her 34-year-old mother were among those pulled from the rubble.",
    "The alert lasted 13 hours; explosions were heard at 2:40 a.m.",
    "Drones hit 6 of Kharkiv's 9 districts and damaged 40 buildings and 12 ambulances.",
    "Dozens of drones and hundreds of missiles have been fired in recent weeks.",
    "About 70% of the drones were decoys, the air force said on July 3, 2025.",
    "It was one of the largest attacks of the war.",
    "No one was killed, officials said.",
    "Sign up for our newsletter to get the 5 most important stories every morning.",
    "Russia produces about 2,700 Shahed drones a month, intelligence says.",
    "Russia could launch 1,000 drones in a single night, officials warned.",
])
def test_negatives(text):
    assert figs(text) == []


# ------------------------------------------------------------------ uniqueness, robustness
def test_repeated_figure_counts_once_with_the_most_specific_place():
    text = ("Russia launched 300 drones at Ukraine overnight.\n"
            "In Lviv, officials said Russia launched 300 drones, most of them at the west.")
    (f,) = figs(text)
    assert (f.metric, f.value, f.location) == ("drones_launched", 300, "Lviv")
    assert f.sentence


@pytest.mark.parametrize("title,body", [("", ""), (None, None), ("x" * 5, "\n\n\n"), ("1", "2 3 4")])
def test_odd_input_never_raises(title, body):
    assert extract_figures(title, body) == [] or isinstance(extract_figures(title, body), list)


def test_published_may_be_a_datetime():
    (f,) = extract_figures("", "Three days ago Russia fired 40 missiles at Ukraine.",
                           dt.datetime(2025, 7, 4, 9, 30))
    assert f.night == dt.date(2025, 7, 1)


# ------------------------------------------------------------------ gold corpora
def _gold(corpus: Path) -> dict[str, set]:
    out: dict[str, set] = {}
    for line in (corpus / "gold.jsonl").read_text().splitlines():
        if line.strip():
            g = json.loads(line)
            out.setdefault(g["article"], set()).add(
                (g["metric"], g["value"], g["qualifier"], g["scope"], g["record"], g["location"]))
    return out


def _extracted(path: Path) -> set:
    a = read_article_file(path)
    return {(f.metric, f.value, f.qualifier, f.scope, f.record, f.location)
            for f in extract_figures(a.title, a.body, a.date)}


@pytest.mark.skipif(not SEED.is_dir(), reason="seed corpus not present")
def test_seed_gold_exactly():
    gold = _gold(SEED)
    for path in sorted(SEED.glob("*.txt")):
        assert _extracted(path) == gold.get(path.stem, set()), path.stem


def test_seed_relative_record_night():
    if not SEED.is_dir():
        pytest.skip("seed corpus not present")
    a = read_article_file(SEED / "cnn-record-drones.txt")
    (f,) = [f for f in extract_figures(a.title, a.body, a.date) if f.value == 537]
    assert f.night == dt.date(2025, 6, 29) and f.record


def test_dev_gold_f1():
    gold = _gold(DEV)
    tp = fp = fn = 0
    for path in sorted(DEV.glob("*.txt")):
        got = {k[:2] + k[3:4] for k in _extracted(path)}
        exp = {k[:2] + k[3:4] for k in gold.get(path.stem, set())}
        tp += len(got & exp)
        fp += len(got - exp)
        fn += len(exp - got)
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= 0.95
