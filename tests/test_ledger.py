from datetime import date

import pytest

from alerts import ledger
from tests.test_alerts_helpers import DAILY_CSV

pytestmark = pytest.mark.skipif(not DAILY_CSV.is_file(), reason="shared/data CSV missing")


def test_nightly_totals_from_the_real_csv():
    nights = ledger.nightly_totals(DAILY_CSV)
    june29 = nights[date(2025, 6, 29)]
    assert june29["drones_launched"] == 477
    assert june29["missiles_launched"] == 60
    assert june29["aerial_weapons_launched"] == 537
    assert nights[date(2025, 7, 4)]["drones_launched"] == 539


def test_classify_models():
    models = ledger.load_models(DAILY_CSV.parent / "missiles_and_uavs.csv")
    assert ledger.classify("Shahed-136/131", models) == ("drones_launched",)
    assert ledger.classify("Orlan-10", models) == ()  # reconnaissance
    assert ledger.classify("Iskander-M", models) == ("missiles_launched", "ballistic_missiles_launched")
    assert ledger.classify("Kalibr", models) == ("missiles_launched", "cruise_missiles_launched")
    assert ledger.classify("C-300", models) == ("missiles_launched",)
    # not in the table: guessed from the name
    assert ledger.classify("Geran-2") == ("drones_launched",)
    assert ledger.classify("Iskander-M/KN-23 and Iskander-K and Kalibr", models) == ("missiles_launched",)


def test_seed_and_best_before(redis_client):
    n = ledger.seed_from_csv(redis_client, DAILY_CSV)
    assert n > 500
    # the largest Shahed night before 4 July 2025: 479 on 9 June
    drones = ledger.best_before(redis_client, "drones_launched", date(2025, 7, 4))
    assert (drones.value, drones.night, drones.source) == (479, date(2025, 6, 9), "csv")
    total = ledger.best_before(redis_client, "aerial_weapons_launched", date(2025, 7, 4))
    assert (total.value, total.night) == (537, date(2025, 6, 29))
    # as of an earlier night, later history does not count
    assert ledger.best_before(redis_client, "aerial_weapons_launched", date(2025, 6, 29)).value < 537
    # the ledger knows the later night too
    assert ledger.night_best(redis_client, "drones_launched", date(2025, 7, 4)).value == 539
    assert ledger.night_best(redis_client, "drones_launched", date(2025, 7, 4), news_only=True) is None
    # seeding again is harmless
    assert ledger.seed_from_csv(redis_client, DAILY_CSV) == n
    assert ledger.best_before(redis_client, "drones_launched", date(2025, 7, 4)).value == 479


def test_record_value_keeps_the_largest(redis_client):
    night = date(2025, 7, 4)
    assert ledger.record_value(redis_client, "drones_launched", night, 500, outlet="A", url="u1")
    assert not ledger.record_value(redis_client, "drones_launched", night, 400, outlet="B", url="u2")
    assert ledger.record_value(redis_client, "drones_launched", night, 539, outlet="C", url="u3")
    e = ledger.night_best(redis_client, "drones_launched", night, news_only=True)
    assert (e.value, e.outlet, e.url, e.source) == (539, "C", "u3", "article")
    assert ledger.best_before(redis_client, "drones_launched", night) is None
    assert ledger.best_before(redis_client, "drones_launched", date(2025, 7, 5)).value == 539


def test_ensure_seeded_once_per_file(redis_client):
    n = ledger.ensure_seeded(redis_client, DAILY_CSV)
    assert n > 500
    assert ledger.ensure_seeded(redis_client, DAILY_CSV) == 0
    assert ledger.best_before(redis_client, "drones_launched", date(2025, 7, 4)).value == 479
