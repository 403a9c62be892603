"""SMS segment counting, so cost and throughput are known before a send.

GSM-7 carries 160 septets in one segment and 153 per segment when split
(extension characters such as ``€`` and ``{`` take two septets and are never
split across segments); any other character makes the whole message UCS-2:
70 UTF-16 units in one segment, 67 when split (a surrogate pair is not split).
Urdu, Arabic, Bengali and Punjabi are always UCS-2. We count; we never truncate.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n.sms import GSM7_EXTENSION, is_gsm7, septets

MAX_BODY = 1600  # Twilio refuses longer bodies (error 21617)


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets or UTF-16 code units
    count: int


def _pack(costs: list[int], single: int, multi: int) -> int:
    """Segments needed when each character (with its cost) must stay whole."""
    if sum(costs) <= single:
        return 1
    count, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            count, used = count + 1, 0
        used += cost
    return count


def count_segments(text: str) -> Segments:
    """Counted for every send: the units come from set and codec operations in C, and
    only a message too long for one segment is walked a character at a time."""
    if is_gsm7(text):
        units = septets(text)
        if units <= 160:
            return Segments("GSM-7", units, 1)
        costs = [2 if c in GSM7_EXTENSION else 1 for c in text]
        return Segments("GSM-7", units, _pack(costs, 160, 153))
    units = len(text.encode("utf-16-le", "surrogatepass")) // 2
    if units <= 70:
        return Segments("UCS-2", units, 1)
    costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return Segments("UCS-2", units, _pack(costs, 70, 67))
