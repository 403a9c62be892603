"""The concern net in the host: a high item for a person, and otherwise business as usual.

A concern hit never sends the crisis reply, never ends or pauses a check-in and never
changes what the participant is sent; it only puts the message in front of a coach.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.host.flows import start_flow
from bot.host.services import FlowLibrary, Services
from bot.i18n.catalogs import default_catalogs
from bot.safety import concern, screen
from bot.store.models import AuditEntry, FlowSession, Participant
from tests.host.helpers import (
    answers,
    bodies,
    escalations,
    make_participant,
    outbox,
    refreshed,
    say,
)

ROOT = Path(__file__).resolve().parents[2]
REASON = "Possible distress: please read"


async def _start(services: Services, participant: Participant, flow: str = "sleep_checkin") -> None:
    async with services.sessions() as db, db.begin():
        fresh = await db.get(Participant, participant.id)
        assert fresh is not None
        assert await start_flow(services, db, fresh, flow) is not None


async def _session(services: Services, participant: Participant) -> FlowSession:
    async with services.sessions() as db:
        session = await db.scalar(
            select(FlowSession).where(FlowSession.participant_id == participant.id)
        )
        assert session is not None
        return session


async def test_concern_mid_flow_opens_a_high_item_and_the_check_in_carries_on(
    services: Services,
) -> None:
    person = await make_participant(services)
    await _start(services, person)
    sent_before = len(await bodies(services, person))
    await say(services, person, "I keep imagining my own funeral")
    items = await escalations(services, person.id)
    assert [(e.priority, e.reason, e.source) for e in items] == [("high", REASON, "safety:concern")]
    rows = await outbox(services, person)
    assert all(r.kind != "crisis" for r in rows)
    assert len(rows) == sent_before + 1  # the flow's own reprompt, nothing special
    assert "number" in (rows[-1].body or "")
    session = await _session(services, person)
    assert session.status == "waiting" and session.outcome is None
    assert (await refreshed(services, person)).status == "active"
    await say(services, person, "7")  # the check-in goes on as if nothing happened
    assert await answers(services, person) == {"sleep_quality": 7}
    assert len(await escalations(services, person.id)) == 1


async def test_flow_answers_never_open_a_concern_item(services: Services) -> None:
    person = await make_participant(services)
    await _start(services, person)
    for reply in ["7", "no", "7.5"]:
        await say(services, person, reply)
    assert await answers(services, person) == {
        "sleep_quality": 7,
        "pain_woke": "no",
        "hours_slept": 7.5,
    }
    assert await escalations(services, person.id) == []


async def test_concern_outside_a_flow_gets_the_usual_gentle_reply(services: Services) -> None:
    person = await make_participant(services)
    await say(services, person, "I feel so alone these days")
    assert [e.priority for e in await escalations(services, person.id)] == ["high"]
    rows = await outbox(services, person)
    assert [r.kind for r in rows] != [] and all(r.kind != "crisis" for r in rows)
    assert "Reply COACH" in (rows[-1].body or "")


async def test_a_concern_hit_is_audited_by_rule_without_the_text(services: Services) -> None:
    person = await make_participant(services)
    await say(services, person, "zindagi bekaar hai")
    async with services.sessions() as db:
        rows = list(
            await db.scalars(select(AuditEntry).where(AuditEntry.action == "safety.concern"))
        )
    assert len(rows) == 1
    assert rows[0].subject == f"participant:{person.id}"
    assert rows[0].detail == {"rule": "ur_roman.concern.life"}
    assert "bekaar" not in str(rows[0].detail)


async def test_a_crisis_message_opens_only_the_urgent_item(services: Services) -> None:
    person = await make_participant(services)
    await say(services, person, "I want to die, I keep thinking about my funeral")
    items = await escalations(services, person.id)
    assert [(e.priority, e.source) for e in items] == [("urgent", "safety")]


async def test_repeated_concern_adds_to_one_open_item(services: Services) -> None:
    person = await make_participant(services)
    for text in ["I feel so alone these days", "I feel useless and lonely"]:
        assert screen(text) is None  # below the crisis screen
        await say(services, person, text)
    items = await escalations(services, person.id)
    assert len(items) == 1 and items[0].occurrences == 2


async def test_stop_words_never_trigger_concern_and_still_opt_out(services: Services) -> None:
    person = await make_participant(services)
    await say(services, person, "END")
    assert (await refreshed(services, person)).status == "opted_out"
    assert await escalations(services, person.id) == []


async def test_an_opted_out_participant_is_read_but_sent_nothing(services: Services) -> None:
    person = await make_participant(services)
    await say(services, person, "stop")
    await say(services, person, "I feel useless and lonely")
    assert [e.priority for e in await escalations(services, person.id)] == ["high"]
    assert [r.kind for r in await outbox(services, person)] == ["optout"]


def _flow_answer_texts(flow_library: FlowLibrary) -> set[str]:
    """Every option label, value and answer word of every flow, in every language, every
    keyword, and every number a question accepts."""
    catalogs = default_catalogs()
    texts: set[str] = {str(n) for n in range(101)} | {f"{n}/10" for n in range(11)}
    for flow in flow_library.flows.values():
        for step in flow.steps.values():
            for option in step.ask.options if step.ask else ():
                texts |= {option.label, str(option.value), *option.words}
    for table in catalogs.entries.values():
        for (context, source), entry in table.items():
            if ".option." not in context:
                continue
            for text in (source, entry.text):
                texts |= {word.strip() for word in text.split(",")} if text else set()
    for languages in catalogs.keywords.values():
        for words in languages.values():
            texts |= set(map(str, words))
    texts.discard("")
    return texts


def test_no_flow_answer_or_keyword_in_any_language_triggers_concern(
    flow_library: FlowLibrary,
) -> None:
    texts = _flow_answer_texts(flow_library)
    assert len(texts) > 500  # the flows and nine languages' translations were found
    hits = {text: hit.rule for text in sorted(texts) if (hit := concern(text)) is not None}
    assert hits == {}


@pytest.mark.parametrize(
    "script", ["0123456789", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "০১২৩৪৫৬৭৮৯", "੦੧੨੩੪੫੬੭੮੯"]
)
def test_numbers_in_every_script_never_trigger_concern(script: str) -> None:
    for number in range(101):
        text = "".join(script[int(d)] for d in str(number))
        assert concern(text) is None, text


def test_replies_in_the_flow_transcripts_stay_quiet() -> None:
    """Participant replies written by the flow authors (flows/tests/*/*.txt)."""
    replies = {
        match.group(1)
        for path in (ROOT / "flows" / "tests").glob("*/*.txt")
        for line in path.read_text(encoding="utf-8").splitlines()
        if (match := re.match(r"@ \S+ > (.*)$", line))
    }
    assert len(replies) > 30
    assert {text: hit.rule for text in replies if (hit := concern(text))} == {}
