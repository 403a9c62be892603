"""Every text a flow can send, rendered per language with long sample values.

Used to prove the SMS budget (one GSM-7 segment, or two UCS-2 segments) for each
question with its numbered answers, each re-ask, each message, the engine's
common prompts and the host's replies, in every language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.engine import runner
from bot.engine.localizer import Localizer
from bot.engine.model import Flow, Value
from bot.engine.state import SessionState
from bot.i18n.languages import LANGUAGES
from bot.i18n.modules import MODULES, module_name, session_date, session_time
from bot.i18n.sms import Cost, cost
from bot.i18n.sources import COMMON, SERVICE, common_texts, service_texts

# The longest values we plan for; longer ones (a very long goal) may cost a segment more.
LONG_NAME = "Christabella"  # first names only
SAMPLE_FIELDS: dict[str, Value] = {
    "name": LONG_NAME,
    "coach_name": LONG_NAME,
    "organisation": "Bradford Community Pain Group",  # 30 characters
    "goal_1": "walk to the shops twice a week",  # 30 characters
    "goal_2": "walk to the shops twice a week",
    "goal_3": "walk to the shops twice a week",
    "venue": "Keighley Healthy Living Centre",  # 30 characters
}
MAX_FIELD_LENGTHS = {"name": 12, "coach_name": 12, "organisation": 30, "goal": 30, "venue": 30}
# English is GSM-7 except where a text must show other scripts (the language list).
UCS2_IN_ENGLISH = frozenset({"onboarding.language", "onboarding.language.reprompt"})


@dataclass(frozen=True)
class Outbound:
    group: str  # flow id, common or service
    context: str  # the step's context, plus ".reprompt" for the re-ask
    language: str
    text: str

    @property
    def cost(self) -> Cost:
        return cost(self.text)


def _longest(values: Iterable[str]) -> str:
    return max(values, key=lambda v: cost(v).units)


def sample_fields(language: str, tr: Localizer) -> dict[str, Value]:
    """Long but realistic field and param values, in ``language`` where they are translated."""
    days = [
        datetime(2026, month, day, 12, 30, tzinfo=UTC) for month in range(1, 13) for day in (27, 28)
    ]
    days += [d + timedelta(days=i) for d in days[:1] for i in range(7)]
    return {
        **SAMPLE_FIELDS,
        "language": language,
        "module_name": _longest(module_name(tr, language, m) for m in MODULES),
        "session_date": _longest(session_date(d, language) for d in days),
        "session_time": _longest(session_time(d, language) for d in days),
    }


def _state(flow: Flow, language: str, step: str, fields: Mapping[str, Value]) -> SessionState:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    return SessionState(
        flow_id=flow.id,
        flow_version=flow.version,
        language=language,
        step=step,
        started_at=at,
        expires_at=at + flow.expires_after,
        fields=dict(fields),
    )


def flow_messages(flow: Flow, language: str, tr: Localizer) -> list[Outbound]:
    """Each message of ``flow``: says, questions with their answers, and re-asks."""
    fields = sample_fields(language, tr)
    found: list[Outbound] = []
    for step_id in flow.order:
        step = flow.steps[step_id]
        state = _state(flow, language, step_id, fields)
        context = f"{flow.id}.{step.id}"
        if step.kind == "say" and step.text is not None:
            text = runner._say(flow, state, tr, step.id, step.text)
            found.append(Outbound(flow.id, context, language, text))
        elif step.kind == "ask":
            question = runner._question(flow, step, state, tr, None)
            found.append(Outbound(flow.id, context, language, question.text))
            if step.retries > 0:
                again = runner._unclear_prompt(flow, step, state, tr)
                found.append(Outbound(flow.id, f"{context}.reprompt", language, again.text))
    return found


def fixed_messages(language: str, tr: Localizer) -> list[Outbound]:
    """The engine's common prompts and the host's replies, as sent alone."""
    found: list[Outbound] = []
    for text in common_texts():
        rendered = tr.text(language, COMMON, text.msgid).replace("{min}", "0")
        found.append(Outbound(COMMON, COMMON, language, rendered.replace("{max}", "10")))
    for text in service_texts():
        found.append(Outbound(SERVICE, SERVICE, language, tr.text(language, SERVICE, text.msgid)))
    return found


def all_messages(
    flows: Mapping[str, Flow], tr: Localizer, languages: Iterable[str] = tuple(LANGUAGES)
) -> list[Outbound]:
    found: list[Outbound] = []
    for language in languages:
        for flow_id in sorted(flows):
            found += flow_messages(flows[flow_id], language, tr)
        found += fixed_messages(language, tr)
    return found


def over_budget(messages: Iterable[Outbound]) -> list[str]:
    """Plain descriptions of every message that costs more than its budget."""
    problems: list[str] = []
    for message in messages:
        spent = message.cost
        english = message.language == "en" and message.context not in UCS2_IN_ENGLISH
        if english and spent.encoding != "gsm7":
            problems.append(
                f"{message.context} [en]: has characters outside GSM-7, so it costs "
                f"{spent.segments} UCS-2 segments"
            )
            continue
        if spent.over:
            problems.append(
                f"{message.context} [{message.language}]: {spent.units} {spent.encoding} "
                f"characters, budget {spent.budget} ({spent.segments} segments)"
            )
    return problems
