"""Checks of what surrounds the flows: WhatsApp templates, safety data and keyword reviews."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from bot.authoring.findings import Finding
from bot.authoring.graph import flow_starts
from bot.engine import Flow
from bot.i18n.catalogs import KEYWORDS
from bot.i18n.languages import LANGUAGES

# Started by the participant's own message, so always inside WhatsApp's 24-hour window.
PARTICIPANT_STARTED = frozenset({"talk_to_coach"})
REVIEW_INTERVAL_DAYS = 365
SAFETY_FILE = "bot/safety/data"


@dataclass(frozen=True)
class WhatsAppSetup:
    """Whether WhatsApp sends are configured, and the template map (None: no file set)."""

    enabled: bool
    templates: Mapping[str, Mapping[str, object]] | None
    source: str = "WHATSAPP_TEMPLATES"


def whatsapp_setup() -> WhatsAppSetup | Finding:
    """From the environment, as the running service would see it."""
    from bot.config import load_settings
    from bot.errors import ConfigError

    try:
        settings = load_settings()
        enabled = bool(
            settings.twilio_account_sid
            and (settings.twilio_whatsapp_from or settings.twilio_messaging_service_sid)
        )
        if not settings.whatsapp_templates:
            return WhatsAppSetup(enabled, None)
        from bot.outbox.whatsapp import load_templates

        return WhatsAppSetup(enabled, load_templates(settings.whatsapp_templates))
    except ConfigError as exc:
        return Finding("WHATSAPP_TEMPLATES", None, "error", "whatsapp-templates", str(exc))


def business_initiated(flows: Mapping[str, Flow]) -> list[str]:
    """Flows that may open a conversation: all but those started by the participant's own
    message, or only ever started from inside another flow (so inside its window)."""
    started_by_others = {
        s.target for f in flows.values() for s in flow_starts(f) if s.target != f.id
    }
    return sorted(
        flow_id
        for flow_id in flows
        if flow_id not in PARTICIPANT_STARTED and flow_id not in started_by_others
    )


def template_findings(
    flows: Mapping[str, Flow], names: Mapping[str, str], setup: WhatsAppSetup
) -> list[Finding]:
    if setup.templates is None:
        if not setup.enabled:
            return []
        return [
            Finding(
                setup.source,
                None,
                "warning",
                "whatsapp-templates",
                "WhatsApp is on but no templates are configured (WHATSAPP_TEMPLATES): a "
                "check-in that starts more than 24 hours after the participant last wrote "
                "cannot be sent on WhatsApp (it falls back to SMS where they agreed to SMS)",
            )
        ]
    from bot.outbox.whatsapp import Templates, template_gaps

    templates: Templates = setup.templates  # type: ignore[assignment]
    found: list[Finding] = []
    gaps: dict[str, list[str]] = {}
    for flow_id, language in template_gaps(templates, business_initiated(flows), LANGUAGES):
        gaps.setdefault(flow_id, []).append(language)
    for flow_id, languages in sorted(gaps.items()):
        found.append(
            Finding(
                names[flow_id],
                None,
                "warning",
                "whatsapp-templates",
                f"no approved WhatsApp template for {flow_id} in {', '.join(languages)} "
                f"(in {setup.source}): outside the 24-hour window this check-in cannot start "
                "on WhatsApp in those languages",
                flow_id,
            )
        )
    return found


def safety_findings(today: datetime.date) -> list[Finding]:
    """Crisis data past its review date; a broken safety file is an error, never a crash."""
    try:
        from bot.safety import review_findings

        return [
            Finding(SAFETY_FILE, None, "warning", "safety-review", message)
            for message in review_findings(today)
        ]
    except Exception as exc:
        return [
            Finding(
                SAFETY_FILE,
                None,
                "error",
                "safety-data",
                f"the safety data cannot be loaded, so crisis messages would not be recognised: {exc}",
            )
        ]


def keyword_findings(today: datetime.date, raw: object | None = None) -> list[Finding]:
    """keywords.yaml (STOP/START/HELP words) must have been reviewed within a year."""
    import yaml

    from bot.authoring.sources import display_name

    name = display_name(KEYWORDS)
    try:
        data = raw if raw is not None else yaml.safe_load(KEYWORDS.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return [Finding(name, None, "error", "keywords", f"cannot read the keyword file: {exc}")]
    reviewed = data.get("reviewed_on") if isinstance(data, dict) else None
    if isinstance(reviewed, str):
        try:
            reviewed = datetime.date.fromisoformat(reviewed)
        except ValueError:
            reviewed = None
    if not isinstance(reviewed, datetime.date):
        return [
            Finding(
                name,
                None,
                "warning",
                "keywords-review",
                "the keyword file has no 'reviewed_on' date",
            )
        ]
    age = (today - reviewed).days
    if age > REVIEW_INTERVAL_DAYS:
        return [
            Finding(
                name,
                None,
                "warning",
                "keywords-review",
                f"the STOP/START/HELP words were last reviewed on {reviewed.isoformat()}, "
                f"{age} days ago; a native speaker of each language should check them again",
            )
        ]
    return []
