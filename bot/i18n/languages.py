"""The languages the service speaks, as the codes used everywhere (API, catalogs, flows)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import ValidationError


@dataclass(frozen=True)
class Language:
    code: str
    english_name: str
    native_name: str
    rtl: bool = False


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "English", "English"),
        Language("ur", "Urdu", "اردو", rtl=True),
        Language("pa_Arab", "Punjabi (Shahmukhi)", "پنجابی", rtl=True),
        Language("pa_Guru", "Punjabi (Gurmukhi)", "ਪੰਜਾਬੀ"),
        Language("bn", "Bengali", "বাংলা"),
        Language("pl", "Polish", "Polski"),
        Language("sk", "Slovak", "Slovenčina"),
        Language("ro", "Romanian", "Română"),
        Language("ar", "Arabic", "العربية", rtl=True),
    )
}
_ALIASES = {"pa-arab": "pa_Arab", "pa-guru": "pa_Guru", "pa_arab": "pa_Arab", "pa_guru": "pa_Guru"}


def normalise_language(code: str) -> str:
    """Accept ``pa-Arab`` or ``pa_Arab``; refuse plain ``pa``: the script matters to the reader."""
    raw = str(code).strip()
    if raw in LANGUAGES:
        return raw
    lowered = raw.lower().replace(" ", "")
    if lowered in _ALIASES:
        return _ALIASES[lowered]
    if lowered in LANGUAGES:
        return lowered
    if lowered == "pa":
        raise ValidationError(
            "language 'pa' is ambiguous: use pa_Arab (Shahmukhi script) or pa_Guru (Gurmukhi script)",
            "unknown_language",
        )
    raise ValidationError(
        f"unknown language {raw[:20]!r}; supported: {', '.join(LANGUAGES)}", "unknown_language"
    )


def is_rtl(code: str) -> bool:
    lang = LANGUAGES.get(code)
    return bool(lang and lang.rtl)
