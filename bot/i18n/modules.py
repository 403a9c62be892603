"""Session names, dates and times for ``module_reminder``, in the participant's language.

The scheduler passes these as the flow's params; the names are translated through
the catalogs (context ``module``) like any other text, so translators see them in
the same PO files.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.engine.localizer import Localizer

CONTEXT = "module"
DEFAULT_TIMEZONE = "Europe/London"
# Module ids (fixed in DESIGN.md) and the names participants know them by.
MODULES: dict[str, str] = {
    "tier1_education": "Pain Education Session (2 hours)",
    "more_on_managing_pain": "More on Managing Pain",
    "keeping_active": "Keeping Active & Safe Movement",
    "sleep_therapy": "Sleep Therapy",
    "emotional_wellbeing": "Emotional Wellbeing Support",
    "helpful_habits": "Developing Helpful Habits, Setting Goals & Making Plans",
    "diet_therapy": "Diet Therapy",
    "creative_therapies": "Creative Therapies",
    "your_stories": "Your Stories",
    "acceptance": "Acceptance & Taking Control of Your Pain",
    "beliefs_faith_pain": "Beliefs, Spirituality, Faith and Pain",
}
# Babel locales and patterns: a UK date for English; 24-hour times elsewhere.
_LOCALES = {"en": "en_GB"}
_DATE_PATTERNS = {"sk": "EEEE d. MMMM"}
_TIME_PATTERNS = {"en": "h:mm a"}
DATE_PATTERN = "EEEE d MMMM"
TIME_PATTERN = "HH:mm"


def module_name(tr: Localizer, language: str, module_id: str) -> str:
    """The module's name in ``language``; an unknown id is shown as it is."""
    source = MODULES.get(module_id, module_id)
    return tr.text(language, CONTEXT, source)


def session_date(starts_at: datetime, language: str, timezone: str = DEFAULT_TIMEZONE) -> str:
    local = _local(starts_at, timezone)
    pattern = _DATE_PATTERNS.get(language, DATE_PATTERN)
    return format_datetime(local, pattern, locale=_LOCALES.get(language, language))


def session_time(starts_at: datetime, language: str, timezone: str = DEFAULT_TIMEZONE) -> str:
    local = _local(starts_at, timezone)
    pattern = _TIME_PATTERNS.get(language, TIME_PATTERN)
    return format_datetime(local, pattern, locale=_LOCALES.get(language, language))


def session_params(
    tr: Localizer,
    language: str,
    module_id: str,
    starts_at: datetime,
    venue: str,
    timezone: str = DEFAULT_TIMEZONE,
) -> dict[str, str]:
    """The params ``module_reminder`` reads, in the participant's language and time zone."""
    return {
        "module": module_id,
        "module_name": module_name(tr, language, module_id),
        "session_date": session_date(starts_at, language, timezone),
        "session_time": session_time(starts_at, language, timezone),
        "venue": venue.strip(),
    }


def _local(when: datetime, timezone: str) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("session times must be timezone-aware")
    return when.astimezone(ZoneInfo(timezone))
