"""Which language a task is written in, from the country of its APIs, and a check with ``langid``.

ITC asks for queries "in the language of the country attribute" and English for Global APIs.
The catalog records countries as ISO 3166-1 alpha-2 codes (the provider's TLD, see
``builders.normalize.openapi.country_from_provider``) or as names (ITC-format JSON); both resolve.
"""

from __future__ import annotations

from functools import lru_cache

GLOBAL = "Global"

# ISO code -> (English name, main language as an ISO 639-1 code langid knows)
COUNTRIES: dict[str, tuple[str, str]] = {
    "ae": ("United Arab Emirates", "ar"), "ar": ("Argentina", "es"), "at": ("Austria", "de"),
    "au": ("Australia", "en"), "be": ("Belgium", "nl"), "br": ("Brazil", "pt"), "ca": ("Canada", "en"),
    "ch": ("Switzerland", "de"), "cl": ("Chile", "es"), "cn": ("China", "zh"), "co": ("Colombia", "es"),
    "cz": ("Czechia", "cs"), "de": ("Germany", "de"), "dk": ("Denmark", "da"), "eg": ("Egypt", "ar"),
    "es": ("Spain", "es"), "eu": ("European Union", "en"), "fi": ("Finland", "fi"), "fr": ("France", "fr"),
    "gb": ("United Kingdom", "en"), "gr": ("Greece", "el"), "hk": ("Hong Kong", "zh"), "hr": ("Croatia", "hr"),
    "hu": ("Hungary", "hu"), "id": ("Indonesia", "id"), "ie": ("Ireland", "en"), "il": ("Israel", "he"),
    "in": ("India", "hi"), "it": ("Italy", "it"), "jp": ("Japan", "ja"), "ke": ("Kenya", "sw"),
    "kr": ("South Korea", "ko"), "mx": ("Mexico", "es"), "my": ("Malaysia", "ms"), "ng": ("Nigeria", "en"),
    "nl": ("Netherlands", "nl"), "no": ("Norway", "no"), "nz": ("New Zealand", "en"), "pe": ("Peru", "es"),
    "ph": ("Philippines", "tl"), "pk": ("Pakistan", "ur"), "pl": ("Poland", "pl"), "pt": ("Portugal", "pt"),
    "ro": ("Romania", "ro"), "rs": ("Serbia", "sr"), "ru": ("Russia", "ru"), "rw": ("Rwanda", "rw"),
    "sa": ("Saudi Arabia", "ar"), "se": ("Sweden", "sv"), "sg": ("Singapore", "en"), "si": ("Slovenia", "sl"),
    "sk": ("Slovakia", "sk"), "th": ("Thailand", "th"), "tr": ("Turkey", "tr"), "tw": ("Taiwan", "zh"),
    "ua": ("Ukraine", "uk"), "us": ("United States", "en"), "vn": ("Vietnam", "vi"), "za": ("South Africa", "en"),
}
_BY_NAME = {name.lower(): code for code, (name, _) in COUNTRIES.items()}


def country_code(country: str | None) -> str | None:
    """``"de"``, ``"DE"`` or ``"Germany"`` -> ``"de"``; Global, unknown or empty -> None."""
    if not country or country.strip().lower() in ("global", "none", ""):
        return None
    key = country.strip().lower()
    return key if key in COUNTRIES else _BY_NAME.get(key)


def country_name(country: str | None) -> str:
    """The name the catalog shows: ``"de"`` -> ``"Germany"``; no country -> ``"Global"``."""
    code = country_code(country)
    if code:
        return COUNTRIES[code][0]
    return country.strip() if country and country.strip().lower() not in ("global", "none") else GLOBAL


def language_for(country: str | None) -> str:
    """The language a task for APIs of ``country`` is written in (ISO 639-1); English for Global or unknown."""
    code = country_code(country)
    return COUNTRIES[code][1] if code else "en"


@lru_cache(maxsize=1)
def _identifier():
    from langid.langid import LanguageIdentifier, model

    return LanguageIdentifier.from_modelstring(model, norm_probs=True)


def identify_language(text: str) -> tuple[str, float]:
    """``langid``'s best language for ``text`` and its normalised probability."""
    lang, prob = _identifier().classify(text)
    return lang, float(prob)


def language_matches(text: str, expected: str) -> tuple[bool, str]:
    """Whether ``text`` is in ``expected``; returns (ok, detected) so a reject can say what was found.

    Chinese written for Hong Kong or Taiwan is still ``zh``; Norwegian variants (nb / nn / no) count as one.
    """
    detected, _ = identify_language(text)
    same = {"nb": "no", "nn": "no"}
    return same.get(detected, detected) == same.get(expected, expected), detected


def check_languages(rows: list[dict], *, text_key: str = "query", rejects=None, step: str = "language_check",
                    enforce: bool = True) -> list[dict]:
    """Rows whose ``text_key`` is in their ``language``; a mismatch is a counted reject (or recorded only).

    Each row gets ``detected_language``; with ``enforce=False`` every row is kept and the mismatch is
    only recorded (the ``record`` filter mode).
    """
    kept = []
    for row in rows:
        ok, detected = language_matches(row[text_key], row["language"])
        row = {**row, "detected_language": detected, "language_ok": ok}
        if not ok and rejects is not None:
            rejects.add(step, row["id"], f"{text_key} is in {detected!r}, the task asks for {row['language']!r}; "
                                         "regenerate it in the country's language", row)
        if ok or not enforce:
            kept.append(row)
    return kept
