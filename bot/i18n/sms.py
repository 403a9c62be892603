"""What a text costs as SMS: GSM-7 or UCS-2, characters and segments.

Every outbound prompt must fit one GSM-7 segment (160 characters), or two UCS-2
segments (134 UTF-16 units) when it needs characters outside GSM-7: Urdu,
Bengali, Arabic, Gurmukhi, and Polish, Slovak or Romanian with their diacritics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

# GSM 03.38 basic table, and the extension table (each of those costs two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7 = GSM7_BASIC | GSM7_EXTENSION
SINGLE = {"gsm7": 160, "ucs2": 70}
PER_PART = {"gsm7": 153, "ucs2": 67}
BUDGET = {"gsm7": 160, "ucs2": 134}  # one GSM-7 segment, or two UCS-2 segments


def is_gsm7(text: str) -> bool:
    """Every character is in the GSM-7 tables (a set operation: this runs for every send)."""
    return GSM7.issuperset(text)


def encoding(text: str) -> Encoding:
    """GSM-7 when every character is in the GSM-7 tables, else UCS-2."""
    return "gsm7" if is_gsm7(text) else "ucs2"


def septets(text: str) -> int:
    """A GSM-7 text's length in septets: each extension character takes two (counted with
    set and string operations; the send path counts every message)."""
    if GSM7_BASIC.issuperset(text):
        return len(text)
    return len(text) + sum(map(text.count, GSM7_EXTENSION))


def units(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2): what the segment limits count."""
    if is_gsm7(text):
        return septets(text)
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    kind = encoding(text)
    size = units(text)
    if size <= SINGLE[kind]:
        return 1
    return math.ceil(size / PER_PART[kind])


@dataclass(frozen=True)
class Cost:
    encoding: Encoding
    units: int
    segments: int
    budget: int

    @property
    def over(self) -> bool:
        return self.units > self.budget


def cost(text: str) -> Cost:
    kind = encoding(text)
    return Cost(kind, units(text), segments(text), BUDGET[kind])
