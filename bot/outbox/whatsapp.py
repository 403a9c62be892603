"""WhatsApp's 24-hour window: free-form inside it, an approved template outside it.

The window opens each time the participant writes to us on WhatsApp. Outside
it WhatsApp refuses free-form text (Twilio error 63016), so a business-initiated
message (a check-in the scheduler or staff started, a coach reply days later)
goes as the approved template configured for its flow and language. With no
template it falls back to SMS only if the participant consented to SMS;
otherwise it fails with a reason staff can act on.

Template file (YAML or JSON; path in ``WHATSAPP_TEMPLATES``)::

    # flow id, or an outbox kind (coach, notify), or "*" for any -> language -> template
    sleep_checkin:
      en: HX0123456789abcdef0123456789abcdef
      ur:
        content_sid: HXfedcba9876543210fedcba9876543210
        variables: {"1": "{name}"}      # participant fields, e.g. {name}

Quick-reply buttons in a template should use the flow's option values as their
ids, so a press arrives as ``ButtonPayload`` and counts as the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import ConfigError, ValidationError
from bot.host.flows import participant_fields
from bot.i18n.languages import normalise_language
from bot.outbox.consent import has_consent
from bot.store.models import FlowSession, InboundMessage, OutboxMessage, Participant

WINDOW = timedelta(hours=24)
ANY = "*"
FLOW_KINDS = frozenset({"flow", "scheduled"})
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Template:
    content_sid: str
    variables: Mapping[str, str] = field(default_factory=dict)


Templates = Mapping[str, Mapping[str, Template]]


def _template(where: str, raw: object) -> Template:
    if isinstance(raw, str):
        raw = {"content_sid": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"WHATSAPP_TEMPLATES {where}: expected a ContentSid or a mapping")
    sid = raw.get("content_sid")
    if not isinstance(sid, str) or not CONTENT_SID.match(sid):
        raise ConfigError(f"WHATSAPP_TEMPLATES {where}: content_sid must look like HX + 32 hex")
    variables = raw.get("variables") or {}
    if not isinstance(variables, dict) or not all(
        isinstance(k, str | int) and len(str(k)) <= 16 and isinstance(v, str) and v.strip()
        for k, v in variables.items()
    ):
        raise ConfigError(f"WHATSAPP_TEMPLATES {where}: variables must map keys to text")
    return Template(sid, {str(k): v for k, v in variables.items()})


def parse_templates(raw: object, source: str = "WHATSAPP_TEMPLATES") -> Templates:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of flow -> language -> template")
    result: dict[str, dict[str, Template]] = {}
    for key, languages in raw.items():
        if not isinstance(languages, dict):
            raise ConfigError(f"{source} {key}: expected a mapping of language -> template")
        for language, value in languages.items():
            try:
                code = normalise_language(str(language))
            except ValidationError as exc:
                raise ConfigError(f"{source} {key}.{language}: {exc.message}") from None
            result.setdefault(str(key), {})[code] = _template(f"{key}.{language}", value)
    return result


@cache
def load_templates(path: str | None) -> Templates:
    """Read the template map once per path; a bad file stops start-up with one clear line."""
    if not path:
        return {}
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"WHATSAPP_TEMPLATES: cannot read {path} ({exc.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(f"WHATSAPP_TEMPLATES: {path} is not valid YAML or JSON") from None
    return parse_templates(raw, f"WHATSAPP_TEMPLATES {path}")


def find_template(templates: Templates, key: str, language: str) -> Template | None:
    return templates.get(key, {}).get(language) or templates.get(ANY, {}).get(language)


def template_gaps(
    templates: Templates, flow_ids: Iterable[str], languages: Iterable[str]
) -> list[tuple[str, str]]:
    """(flow, language) pairs that could not start a WhatsApp conversation: for ``flows check``."""
    langs = list(languages)
    return [
        (f, lang) for f in flow_ids for lang in langs if find_template(templates, f, lang) is None
    ]


def render(template: Template, participant: Participant) -> dict[str, str] | None:
    """The ContentVariables, or None if a placeholder has no value (Twilio refuses empties)."""
    fields = participant_fields(participant, {})
    values: dict[str, str] = {}
    for key, pattern in template.variables.items():
        value = PLACEHOLDER.sub(lambda m: str(fields.get(m.group(1)) or ""), pattern).strip()
        if not value:
            return None
        values[key] = value
    return values


@dataclass(frozen=True)
class Plan:
    action: str  # free_form, template, sms, fail
    template: dict[str, Any] | None = None
    reason: str = ""


async def window_open(db: AsyncSession, participant_id: int, now: datetime) -> bool:
    last = await db.scalar(
        select(InboundMessage.received_at)
        .where(
            InboundMessage.participant_id == participant_id,
            InboundMessage.channel == "whatsapp",
        )
        .order_by(InboundMessage.received_at.desc())
        .limit(1)
    )
    return last is not None and now - last < WINDOW


async def template_key(db: AsyncSession, row: OutboxMessage) -> str:
    """The flow a message belongs to (the latest session started before it), else its kind."""
    if row.kind in FLOW_KINDS and row.participant_id is not None:
        flow_id = await db.scalar(
            select(FlowSession.flow_id)
            .where(
                FlowSession.participant_id == row.participant_id,
                FlowSession.started_at <= row.created_at,
            )
            .order_by(FlowSession.id.desc())
            .limit(1)
        )
        if flow_id:
            return str(flow_id)
    return row.kind


async def plan(
    db: AsyncSession,
    participant: Participant,
    row: OutboxMessage,
    now: datetime,
    templates: Templates,
) -> Plan:
    if await window_open(db, participant.id, now):
        return Plan("free_form")
    key = await template_key(db, row)
    template = find_template(templates, key, participant.language)
    variables = render(template, participant) if template is not None else None
    if template is not None and variables is not None:
        return Plan(
            "template", {"content_sid": template.content_sid, "variables": variables, "key": key}
        )
    missing = (
        "no approved template is configured" if template is None else "a template value is missing"
    )
    reason = f"WhatsApp 24-hour window closed and {missing} for {key} in {participant.language}"
    if participant.phone and await has_consent(db, participant.id, "sms"):
        return Plan("sms", reason=reason)
    return Plan("fail", reason=f"{reason}; no SMS consent to fall back on")
