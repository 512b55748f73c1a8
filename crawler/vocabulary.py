"""Word tables for figure extraction: weapon and people nouns, action verbs, qualifiers, periods,
record cues. Patterns are plain regex source strings; crawler.figures compiles them once."""

from __future__ import annotations

# --- weapon nouns -> kind. Longest alternatives first (combined "drones and missiles" beats "drones").
# kind: drones, missiles, cruise, ballistic, glide, aerial (combined), people
AERIAL_HEADS = (
    r"(?:drones?|uavs?|missiles?)\s+(?:and|&|or)\s+(?:(?:cruise|ballistic|guided)\s+)?(?:drones?|uavs?|missiles?)"
    r"|aerial\s+weapons|air\s+weapons|air[- ]attack\s+(?:assets|means|weapons|vehicles)"
    r"|means\s+of\s+(?:air|aerial)\s+attack|aerial\s+attack\s+(?:assets|means|weapons)|projectiles"
    r"|air\s+targets"
)
MISSILE_KIND_HEADS = (
    r"(?:cruise\s+and\s+ballistic|ballistic\s+and\s+cruise)\s+missiles?"  # mixed kinds -> missiles
    r"|(?P<cruise>cruise)\s+missiles?|(?P<ballistic>ballistic)\s+missiles?"
)
MISSILE_HEADS = (
    r"missiles?|kinzhals?|kh-?\d+s|kalibrs?|iskanders?|iskander-ms?|zircons?|tsirkons?"
)
DRONE_HEADS = (
    r"drones?|uavs?|unmanned\s+aerial\s+vehicles?|shaheds?|gerans?|gerberas?|decoys?"
    r"|loitering\s+munitions?"
)
GLIDE_HEADS = (
    r"(?:guided\s+)?(?:glide|gliding|guided|aerial|air)\s+bombs?|kabs?|bombs?"
)
PEOPLE_HEADS = (
    r"people|persons?|civilians?|residents?|children|child|kids|adults?|men|man|women|woman|boys?|girls?"
    r"|teenagers?|babies|baby|infants?|pensioners?|passengers?|rescuers?|medics?|paramedics?"
    r"|bystanders?|others|victims|employees|workers|journalists?|firefighters?|police\s+officers?"
    r"|officers|volunteers?|doctors?|nurses?|patients?|students?|soldiers|troops|servicemen|service\s+members"
    r"|recruits|cadets"
)
# nouns that carry their metric: "12 deaths", "30 injuries"
DEATH_HEADS = r"deaths|fatalities|dead"
INJURY_HEADS = r"injuries|wounded|injured"

# modifiers allowed between a number and its noun ("539 Russian Shahed-type attack drones")
MODIFIERS = {
    "more", "other", "additional", "further", "new", "enemy", "hostile", "russian", "ukrainian", "iranian",
    "north", "korean", "iranian-made", "iranian-designed", "russian-made", "shahed", "shahed-type",
    "geran", "geran-2", "gerbera", "attack", "strike", "combat", "kamikaze", "long-range", "short-range",
    "guided", "unmanned", "decoy", "dummy", "imitation", "jet", "jet-powered", "air-launched",
    "sea-launched", "ground-launched", "air-based", "sea-based", "ship-launched", "precision",
    "high-precision", "heavy", "powerful", "various", "different", "hypersonic", "aeroballistic",
    "anti-aircraft", "air-to-surface", "surface-to-air", "civilian", "innocent", "elderly",
    "young", "local", "ordinary", "small", "large", "fixed-wing", "incoming", "explosive", "all",
    "strike-type", "type", "types", "of", "aircraft-type", "airplane-type", "helicopter-type", "s-300",
    "s-400", "the", "reactive", "fpv", "bomber", "suicide", "russian-launched", "foreign", "air",
}
CRUISE_MODELS = r"kh-?101|kh-?555|kh-?55|kh-?59|kh-?69|kh-?22|kh-?32|kalibr"
BALLISTIC_MODELS = r"iskander(?:-m)?|kn-?23|kn-?24"

# nouns that, right after a weapon word, mean the number counts something else ("5 drone attacks")
NOT_WEAPON_AFTER = {
    "attacks", "attack", "strikes", "strike", "operators", "units", "launchers", "factories", "plants",
    "debris", "fragments", "alerts", "production", "sites", "bases", "hits", "impacts", "warnings",
    "systems", "carriers", "crews", "makers", "manufacturers", "components", "parts", "waves", "raids",
    "launches", "pilots", "engines", "wreckage", "fragment", "shelters", "batteries", "interceptors",
    "defence", "defense", "salvos",
}

# --- action verbs (lower-case regex alternatives)
LAUNCH_VERBS = (
    r"launch(?:ed|es|ing)?|fir(?:ed|es|ing)|fire|dropp(?:ed|ing)|drops?|sen[dt]|sending|sends|unleash(?:ed|es|ing)?"
    r"|hurl(?:ed|ing|s)?|lobb(?:ed|ing)|us(?:ed|ing)|deploy(?:ed|ing|s)?|attack(?:ed|ing|s)?\s+(?:\w+\s+){0,3}?with"
    r"|struck\s+(?:\w+\s+){0,3}?with|hits?\s+(?:\w+\s+){0,3}?with|strikes?\s+(?:\w+\s+){0,3}?with|target(?:ed|ing|s)\s+(?:\w+\s+){0,3}?with"
    r"|involv(?:ed|ing|es)|includ(?:ed|ing)|consist(?:ed|ing)\s+of|compris(?:ed|ing)|with|by"
    r"|barrage\s+of|wave\s+of|swarm\s+of|salvo\s+of|volley\s+of|attack\s+of|assault\s+of"
    r"|attempted\s+to\s+attack|tried\s+to\s+attack|rained\s+down|raining\s+down|totall(?:ed|ing)"
    r"|numbered|bombard(?:ed|ing)\s+(?:\w+\s+){0,3}?with|pound(?:ed|ing)\s+(?:\w+\s+){0,3}?with"
)
INTERCEPT_VERBS = (
    r"intercept(?:ed|ing|s)?|shot\s+down|shoot(?:ing|s)?\s+down|down(?:ed|ing)|destroy(?:ed|ing|s)?"
    r"|neutrali[sz](?:ed|ing|es)?|repel(?:led|ling|s)?|brought\s+down|bring(?:ing)?\s+down|taken\s+down"
    r"|took\s+down|suppress(?:ed|ing)|eliminat(?:ed|ing)|jammed|knock(?:ed|ing)\s+out|stopped|foiled"
)
KILL_VERBS = (
    r"kill(?:ed|ing|s)?|died|die|dies|dying|dead|perish(?:ed|ing)|lost\s+their\s+lives|slain|claim(?:ed|ing)"
    r"\s+the\s+lives\s+of|death\s+toll"
)
INJURE_VERBS = (
    r"injur(?:ed|ing|es|e)|wound(?:ed|ing|s)?|hurt(?:ing|s)?|suffer(?:ed|ing)\s+(?:\w+\s+)?(?:injuries|wounds)"
    r"|sustain(?:ed|ing)\s+(?:\w+\s+)?(?:injuries|wounds)|received\s+(?:\w+\s+)?(?:injuries|wounds)|maimed"
)
# verbs that mean "not an attack figure" when they are the nearest verb ("Russia produces 2,700 a month")
STOP_VERBS = (
    r"produc(?:ed|es|ing|e)|manufactur(?:ed|es|ing|e)|buil[dt]s?|building|possess(?:es|ed)?|stockpil\w*"
    r"|need(?:s|ed)?|request(?:ed|s)?|pledg(?:ed|es|ing)|deliver(?:ed|s|ing)?|suppl(?:ied|ies|ying|y)"
    r"|provid(?:ed|es|ing)|gave|give[sn]?|giving|promis(?:ed|es|ing)|bought|buy(?:s|ing)?|order(?:ed|s)?"
    r"|transferr(?:ed|ing)|approv(?:ed|es|ing)|evacuat(?:ed|ing)|rescued|exchang(?:ed|ing)"
    r"|swapp?(?:ed|ing)?|freed|released|returned|captured|detained|arrested|treated|hospitali[sz]ed"
    r"|displaced|left\s+without|lost\s+power|without\s+power|sheltered|shelter(?:ing|ed)"
    r"|heard|damaged|hit|attended|lost|missing|searching|spent|fled|needs?"
)
MODALS = (r"(?:could|may|might|would|can|will|able\s+to|capable\s+of|plans?\s+to|intends?\s+to"
          r"|threaten(?:ed|s)?\s+to|aims?\s+to|expects?\s+to|ready\s+to|wants?\s+to)")

# --- qualifiers, matched at the end of the text before a number
QUALIFIERS = [
    ("at_least", r"at\s+least|no\s+fewer\s+than|no\s+less\s+than|not\s+less\s+than|a\s+minimum\s+of|minimum\s+of"),
    ("more_than", r"more\s+than|over|in\s+excess\s+of|upwards\s+of|just\s+over|well\s+over|above|exceeding"),
    ("approx", r"nearly|about|around|some|roughly|almost|approximately|approx\.?|close\s+to|an\s+estimated"
               r"|estimated|circa|just\s+under|about\s+another"),
    ("up_to", r"up\s+to|as\s+many\s+as|fewer\s+than|less\s+than|under|as\s+much\s+as"),
]

# --- periods that make a figure an aggregate
MONTHS = r"january|february|march|april|may|june|july|august|september|october|november|december"
# (guard words, pattern): a pattern is only tried when one of its guard words is in the sentence
_MONTH_WORDS = tuple(MONTHS.split("|"))
AGGREGATE_CUE_GROUPS = [
    (_MONTH_WORDS,
     r"\b(?:in|during|throughout|over|for)\s+(?:the\s+month\s+of\s+|all\s+of\s+|early\s+|late\s+|mid-?)?"
     r"(?:" + MONTHS + r")\b(?!\s+\d)|\b(?:" + MONTHS + r")\s+alone\b"),
    (("since",),
     r"\bsince\s+the\s+(?:start|beginning|outbreak)\s+of\b|\bsince\s+(?:the\s+)?(?:full[- ]scale\s+)?"
     r"(?:war|invasion)\s+began\b|\bsince\s+(?:february\s+)?2022\b|\bsince\s+(?:" + MONTHS + r")\b"
     r"|\bsince\s+(?:the\s+)?(?:start|beginning)\b|\bsince\s+(?:monday|tuesday|wednesday|thursday|friday"
     r"|saturday|sunday)\b|\bsince\s+(?:19|20)\d\d\b"),
    (("this ", "last "),
     r"(?<!earlier\s)(?<!later\s)\bthis\s+(?:week|month|year)\b|\blast\s+(?:week|month|year)\b(?!['’]s)"),
    (("past", "last", "previous", "preceding", "prior", "first"),
     r"\b(?:over|in|during|for)\s+the\s+(?:past|last|previous|preceding)\s+(?:\w+\s+)?"
     r"(?:weeks?|months?|years?|days|nights)\b|\b(?:the\s+)?(?:previous|preceding|prior)\s+(?:month|week|year)\b"
     r"|\bin\s+the\s+(?:first|last|past)\s+\w+\s+(?:days|weeks|months)\b"
     r"|\bin\s+(?:the\s+)?first\s+(?:half|quarter)\b"),
    (("so far", "to date", "recent", "weekend", "war", "weekly", "monthly", " 19", " 20", "the month",
      "the week", "the year", "a week", "a month", "a year", "one week", "one month", "one year"),
     r"\bso\s+far\s+(?:this|in)\b|\bto\s+date\b|\bin\s+recent\s+(?:weeks|months|days)\b"
     r"|\bin\s+(?:19|20)\d\d\b|\bover\s+the\s+weekend\b|\bin\s+(?:a|one)\s+(?:week|month|year)\b"
     r"|\bthroughout\s+the\s+war\b|\bweekly\b|\bmonthly\b|\bduring\s+the\s+war\b"
     r"|\b(?:over|during|throughout|in)\s+the\s+(?:month|week|year)\b|\bat\s+(?:the\s+)?weekend\b"),
    (("winter", "summer", "spring", "autumn", "fall"),
     r"\b(?:last|this|past|previous)\s+(?:winter|summer|spring|autumn|fall)\b"
     r"|\b(?:over|during|throughout|in)\s+the\s+(?:winter|summer|spring|autumn)\b"),
]
AGGREGATE_CUES = "|".join(p for _, p in AGGREGATE_CUE_GROUPS)
EVENT_OVERRIDE = (r"\b(?:in|on|during)\s+(?:a\s+single|one)\s+(?:night|attack|strike|wave)\b|\bovernight\b"
                  r"|\blast\s+night\b"
                  r"|\bon\s+the\s+night\s+of\b")

RATE_AFTER = r"^\s*(?:a|per|each|every)\s+(?:night|day|month|week|year)\b|^\s*(?:daily|nightly|monthly)\b"
AVERAGE_BEFORE = r"(?:an?\s+average\s+of|on\s+average|averag(?:e|ed|ing))\s+(?:of\s+)?(?:about\s+|around\s+|some\s+)?$"

# --- records
RECORD_ADJ = (r"(?:new\s+|all-time\s+|previous\s+|last\s+|prior\s+|earlier\s+|old\s+)?"
              r"record(?:-(?:breaking|setting|high))?")
SUPERLATIVE = (
    r"(?:largest|biggest|heaviest|most\s+massive|most\s+intense|most\s+powerful|deadliest|most\s+extensive"
    r"|highest|greatest|worst|most)"
)
RECORD_CUES = (
    r"\b" + RECORD_ADJ + r"\b"
    r"|\b" + SUPERLATIVE + r"\b[^.;]{0,60}?\b(?:of|in|since|during)\s+(?:the|this|russia['’]s)\s+"
    r"(?:(?:full[- ]scale|three-year|four-year|\w+-year|entire|whole)\s+)?(?:war|invasion|conflict)\b"
    r"|\b" + SUPERLATIVE + r"\b[^.;]{0,40}?\bever\b|\bunprecedented\b|\bthe\s+most\s+ever\b"
    r"|\b" + SUPERLATIVE + r"\b[^.;]{0,40}?\bsince\s+(?:the\s+)?(?:full[- ]scale\s+)?(?:war|invasion)\s+began\b"
    r"|\b" + SUPERLATIVE + r"\b[^.;]{0,40}?\b(?:on\s+record|to\s+date)\b"
    r"|\b" + SUPERLATIVE + r"\b[^.;]{0,40}?\bso\s+far\b(?!\s+(?:this|in)\b)"
    r"|\b(?:a\s+)?new\s+(?:\w+\s+)?high\b|\ball-time\s+high\b"
)
HEDGES = (
    r"\b(?:one\s+of|among|nearly|almost|close\s+to|near|just\s+short\s+of|not)\s+the\s+(?:\w+\s+)?"
    r"(?:" + SUPERLATIVE + r"|record)"
    r"|\b(?:second|third|fourth|fifth)[- ](?:" + SUPERLATIVE + r"|highest|largest|biggest)"
    r"|\bnear[- ]record|\b(?:nearly|almost|close\s+to|just\s+short\s+of|fell\s+short\s+of|not\s+a|short\s+of)"
    r"\s+(?:a|the)?\s*(?:new\s+)?record|\bno\s+record|\brecord\s+(?:low|levels?\s+of\s+(?:aid|funding))"
    r"|\brecord\s+(?:temperatures?|heat|harvest|profits?|sales|turnout|spending|budget|prices?)"
)
