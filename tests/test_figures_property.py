"""Property tests: extract_figures never raises and always returns well-formed, unique figures."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.figures import _extract, extract_figures
from tallywatch.models import METRICS, QUALIFIERS, SCOPES

# words that steer the text into the extractor's interesting paths
VOCAB = ["Russia", "launched", "fired", "drones", "missiles", "cruise", "ballistic", "glide", "bombs", "at",
         "least", "more", "than", "up", "to", "between", "and", "of", "out", "record", "largest", "war",
         "killed", "injured", "people", "in", "June", "alone", "Kyiv", "Kharkiv", "region", "five", "days",
         "ago", "on", "Sunday", "1,200", "539", "forty-seven", "a", "dozen", "10-12", "–", ";", ":", ",", ".",
         "\n", "including", "were", "shot", "down", "the", "previous", "one", "death", "toll", "rose", "$", "%",
         "KYIV,", "(AP)", "—", "’s", "night", "of", "July", "9", "from", "18:00"]

texts = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(VOCAB), max_size=80).map(" ".join),
    st.lists(st.one_of(st.sampled_from(VOCAB), st.text(max_size=6)), max_size=60).map(" ".join),
)
dates = st.one_of(st.none(), st.dates(min_value=dt.date(1, 1, 8), max_value=dt.date(9999, 12, 31)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=texts, body=texts, published=dates)
def test_never_raises_and_is_well_formed(title, body, published):
    # the inner function, without the public wrapper's safety net, so a bug shows up here
    figs = _extract(title, body, published)
    assert figs == extract_figures(title, body, published)
    assert isinstance(figs, list)
    seen = set()
    for f in figs:
        assert f.metric in METRICS
        assert f.qualifier in QUALIFIERS
        assert f.scope in SCOPES
        assert isinstance(f.value, int) and f.value > 0
        assert f.sentence
        if f.night is not None:
            assert published is not None and f.night != published
        key = (f.metric, f.value, f.scope, f.night, f.location)
        assert key not in seen
        seen.add(key)


@settings(max_examples=50, deadline=None)
@given(st.dates(min_value=dt.date(2000, 1, 8), max_value=dt.date(2100, 1, 1)), st.integers(1, 6))
def test_days_ago_dates_the_night(published, n):
    (f,) = extract_figures("", f"{n} days ago Russia fired 40 missiles at Ukraine.", published)
    assert f.night == published - dt.timedelta(days=n)


def test_long_junk_stays_linear():
    import random
    import time

    rnd = random.Random(7)
    junk = " ".join(rnd.choice(VOCAB) for _ in range(10_000))  # one ~50 KB run-on "sentence"
    t0 = time.perf_counter()
    extract_figures("", junk, dt.date(2025, 7, 4))
    assert time.perf_counter() - t0 < 10
