"""Every outbound text fits one GSM-7 segment (160) or two UCS-2 segments (134),
rendered with long sample values, in every language."""

from __future__ import annotations

import pytest

from bot.engine import Flow
from bot.i18n.catalogs import Catalogs
from bot.i18n.languages import LANGUAGES
from bot.i18n.outbound import UCS2_IN_ENGLISH, all_messages, over_budget
from bot.i18n.sms import cost


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_message_fits_its_segment_budget(
    language: str, flows: dict[str, Flow], catalogs: Catalogs
) -> None:
    messages = all_messages(flows, catalogs, [language])
    assert len(messages) > 100  # questions, re-asks, messages, common and service texts
    assert over_budget(messages) == []


def test_english_is_gsm7_except_the_language_list(
    flows: dict[str, Flow], catalogs: Catalogs
) -> None:
    messages = all_messages(flows, catalogs, ["en"])
    ucs2 = {m.context for m in messages if m.cost.encoding == "ucs2"}
    assert ucs2 == set(UCS2_IN_ENGLISH)
    assert all(m.cost.segments == 1 for m in messages if m.context not in UCS2_IN_ENGLISH)


def test_the_budget_check_catches_an_overrun(flows: dict[str, Flow], catalogs: Catalogs) -> None:
    """A long goal text pushes the goal message over: the check would say so."""
    messages = all_messages(flows, catalogs, ["ur"])
    goal = next(m for m in messages if m.context == "goal_review.show_1")
    longer = type(goal)(goal.group, goal.context, goal.language, goal.text + "x" * 140)
    assert over_budget([longer]) and cost(longer.text).over


def test_findings_for_flows_check_report_drafts_and_no_overrun() -> None:
    from bot.cli.translations import findings

    found = findings()
    assert [f for f in found if f[0] == "error"] == []
    assert ("warning", "ur: 347 unreviewed (fuzzy) entries") in found or any(
        level == "warning" and message.startswith("ur: ") and "unreviewed" in message
        for level, message in found
    )
