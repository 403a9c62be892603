"""Logs never carry a phone number, even when a caller slips one in by mistake."""

from __future__ import annotations

import json
import logging

from bot.logs import JsonFormatter, RedactPhones


def render(message: str, *args: object, **extra: object) -> str:
    record = logging.makeLogRecord({"msg": message, "args": args or None, **extra})
    assert RedactPhones().filter(record)
    return JsonFormatter().format(record)


def test_phone_numbers_are_masked_in_messages_and_extras() -> None:
    line = json.loads(render("send to %s failed", "+447911123456", to="07911 123456"))
    assert line["message"] == "send to [number] failed" and line["to"] == "[number]"
    assert "447911" not in json.dumps(line)
    assert json.loads(render("raw 447911123456 here"))["message"] == "raw [number] here"


def test_ids_dates_and_counts_are_left_alone() -> None:
    line = json.loads(render("participant 12345 at 2026-03-02 10:00, 100000 rows", job="x"))
    assert line["message"] == "participant 12345 at 2026-03-02 10:00, 100000 rows"
