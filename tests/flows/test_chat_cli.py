"""``python -m bot chat --flow goal_review --lang ur`` walks a whole review in Urdu."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT


def _chat(flow: str, language: str, replies: list[str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--flow", flow, "--lang", language],
        input="\n".join(replies) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_whole_goal_review_in_urdu() -> None:
    out = _chat("goal_review", "ur", ["banana", "۱", "۲", "۲"])
    assert "آئیے دیکھیں کہ اس ہفتے آپ کے اہداف کیسے رہے" in out  # the greeting, in Urdu
    assert "براہ کرم 1 سے 5 تک کوئی نمبر بھیجیں" in out  # asked again after "banana"
    assert "key=goal_attainment, value=-2" in out
    assert "key=goal_barrier, value=tired" in out
    assert "key=goal_next, value=change" in out
    assert "escalate: priority=routine, reason=Wants to change a goal" in out
    assert "شکریہ Sam" in out and "end: outcome=completed" in out
    assert "How did" not in out  # nothing fell back to English


def test_the_onboarding_language_list_shows_each_language_in_its_own_script() -> None:
    out = _chat("onboarding", "pl", ["/quit"])
    for name in [
        "English",
        "اردو",
        "پنجابی",
        "ਪੰਜਾਬੀ",
        "বাংলা",
        "Polski",
        "Slovenčina",
        "Română",
        "العربية",
    ]:
        assert name in out
