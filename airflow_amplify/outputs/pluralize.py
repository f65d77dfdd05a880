"""English plurals as the ``pluralize`` 8.0 npm package forms them (used for ``pluralName`` and index names).

Only the singular -> plural direction is needed. Rules are tried from the last added to the first,
the first match wins, and the replacement keeps the case of the word it replaces.
"""

from __future__ import annotations

import re

_IRREGULAR = {
    "i": "we", "me": "us", "he": "they", "she": "they", "them": "them", "myself": "ourselves",
    "yourself": "yourselves", "itself": "themselves", "herself": "themselves", "himself": "themselves",
    "themself": "themselves", "is": "are", "was": "were", "has": "have", "this": "these", "that": "those",
    "echo": "echoes", "dingo": "dingoes", "volcano": "volcanoes", "tornado": "tornadoes",
    "torpedo": "torpedoes", "genus": "genera", "viscus": "viscera", "stigma": "stigmata",
    "stoma": "stomata", "dogma": "dogmata", "lemma": "lemmata", "schema": "schemata",
    "anathema": "anathemata", "ox": "oxen", "axe": "axes", "die": "dice", "yes": "yeses", "foot": "feet",
    "eave": "eaves", "goose": "geese", "tooth": "teeth", "quiz": "quizzes", "human": "humans",
    "proof": "proofs", "carve": "carves", "valve": "valves", "looey": "looies", "thief": "thieves",
    "groove": "grooves", "pickaxe": "pickaxes", "passerby": "passersby",
}  # fmt: skip
_IRREGULAR_PLURALS = set(_IRREGULAR.values())

_UNCOUNTABLE = set(
    [
        "adulthood",
        "advice",
        "agenda",
        "aid",
        "aircraft",
        "alcohol",
        "ammo",
        "analytics",
        "anime",
        "athletics",
        "audio",
        "bison",
        "blood",
        "bream",
        "buffalo",
        "butter",
        "carp",
        "cash",
        "chassis",
        "chess",
        "clothing",
        "cod",
        "commerce",
        "cooperation",
        "corps",
        "debris",
        "diabetes",
        "digestion",
        "elk",
        "energy",
        "equipment",
        "excretion",
        "expertise",
        "firmware",
        "flounder",
        "fun",
        "gallows",
        "garbage",
        "graffiti",
        "hardware",
        "headquarters",
        "health",
        "herpes",
        "highjinks",
        "homework",
        "housework",
        "information",
        "jeans",
        "justice",
        "kudos",
        "labour",
        "literature",
        "machinery",
        "mackerel",
        "mail",
        "media",
        "mews",
        "moose",
        "music",
        "mud",
        "manga",
        "news",
        "only",
        "personnel",
        "pike",
        "plankton",
        "pliers",
        "police",
        "pollution",
        "premises",
        "rain",
        "research",
        "rice",
        "salmon",
        "scissors",
        "series",
        "sewage",
        "shambles",
        "shrimp",
        "software",
        "species",
        "staff",
        "swine",
        "tennis",
        "traffic",
        "transportation",
        "trout",
        "tuna",
        "wealth",
        "welfare",
        "whiting",
        "wildebeest",
        "wildlife",
        "you",
    ]
)

# (pattern, replacement) in the order the package adds them; the last matching one applies.
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.IGNORECASE), r)
    for p, r in [
        (r"s?$", "s"),
        (r"[^\u0000-\u007F]$", "$0"),
        (r"([^aeiou]ese)$", "$1"),
        (r"(ax|test)is$", "$1es"),
        (r"(alias|[^aou]us|t[lm]as|gas|ris)$", "$1es"),
        (r"(e[mn]u)s?$", "$1s"),
        (r"([^l]ias|[aeiou]las|[ejzr]as|[iu]am)$", "$1"),
        (
            r"(alumn|syllab|vir|radi|nucle|fung|cact|stimul|termin|bacill|foc|uter|loc|strat)(?:us|i)$",
            "$1i",
        ),
        (r"(alumn|alg|vertebr)(?:a|ae)$", "$1ae"),
        (r"(seraph|cherub)(?:im)?$", "$1im"),
        (r"(her|at|gr)o$", "$1oes"),
        (
            r"(agend|addend|millenni|dat|extrem|bacteri|desiderat|strat|candelabr|errat|ov|symposi"
            r"|curricul|automat|quor)(?:a|um)$",
            "$1a",
        ),
        (
            r"(apheli|hyperbat|periheli|asyndet|noumen|phenomen|criteri|organ|prolegomen|hedr|automat)"
            r"(?:a|on)$",
            "$1a",
        ),
        (r"sis$", "ses"),
        (r"(?:(kni|wi|li)fe|(ar|l|ea|eo|oa|hoo)f)$", "$1$2ves"),
        (r"([^aeiouy]|qu)y$", "$1ies"),
        (r"([^ch][ieo][ln])ey$", "$1ies"),
        (r"(x|ch|ss|sh|zz)$", "$1es"),
        (r"(matr|cod|mur|sil|vert|ind|append)(?:ix|ex)$", "$1ices"),
        (r"\b((?:tit)?m|l)(?:ice|ouse)$", "$1ice"),
        (r"(pe)(?:rson|ople)$", "$1ople"),
        (r"(child)(?:ren)?$", "$1ren"),
        (r"eaux$", "$0"),
        (r"m[ae]n$", "men"),
        (r"^thou$", "you"),
        # uncountable patterns keep the word as it is
        (r"pok[eé]mon$", "$0"),
        (r"[^aeiou]ese$", "$0"),
        (r"deer$", "$0"),
        (r"fish$", "$0"),
        (r"measles$", "$0"),
        (r"o[iu]s$", "$0"),
        (r"pox$", "$0"),
        (r"sheep$", "$0"),
    ]
]

_GROUP_REF = re.compile(r"\$(\d{1,2})")


def _restore_case(word: str, token: str) -> str:
    if word == token:
        return token
    if word == word.lower():
        return token.lower()
    if word == word.upper():
        return token.upper()
    if word[:1] == word[:1].upper():
        return token[:1].upper() + token[1:].lower()
    return token.lower()


def _apply(word: str, pattern: re.Pattern[str], replacement: str) -> str:
    match = pattern.search(word)
    assert match is not None
    groups = [match.group(0), *match.groups()]
    # JavaScript passes (match, groups..., offset, string) to the replacer; $N indexes that list.
    args: list[object] = [*groups, match.start(), word]

    def group(ref: re.Match[str]) -> str:
        index = int(ref.group(1))
        value = args[index] if index < len(args) else None
        return str(value) if value not in (None, "", 0) else ""

    result = _GROUP_REF.sub(group, replacement)
    if match.group(0) == "":
        case_source = word[match.start() - 1] if match.start() > 0 else ""
        return word[: match.start()] + _restore_case(case_source, result) + word[match.end() :]
    return word[: match.start()] + _restore_case(match.group(0), result) + word[match.end() :]


def plural(word: str) -> str:
    """The plural of ``word`` as ``pluralize.plural`` gives it.

    :param word: a singular noun (e.g. a model name).
    """
    token = word.lower()
    if token in _IRREGULAR_PLURALS:
        return _restore_case(word, token)
    if token in _IRREGULAR:
        return _restore_case(word, _IRREGULAR[token])
    if not token or token in _UNCOUNTABLE:
        return word
    for pattern, replacement in reversed(_RULES):
        if pattern.search(word):
            return _apply(word, pattern, replacement)
    return word
