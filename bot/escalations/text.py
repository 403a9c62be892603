"""Free text typed by staff (notes, replies, goals): checked once, for every caller.

Markup is not refused here: it is stored as typed and escaped wherever it is
shown. What is refused is text that could mislead a reader about what it says:
control characters and invisible direction overrides (a right-to-left override
can make "1 tablet" read as "telbat 1"); right-to-left *letters* are welcome.
"""

from __future__ import annotations

import re
import unicodedata

from bot.errors import ValidationError

# Bidi embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI).
DIRECTION_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(raw: object, *, field: str, limit: int, required: bool = True) -> str:
    """Return the text trimmed and NFC-normalised, or raise a ValidationError naming ``field``."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise ValidationError(f"{field} must be text", f"invalid_{field}")
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        if required:
            raise ValidationError(f"{field} is required", f"missing_{field}")
        return ""
    if len(text) > limit:
        raise ValidationError(
            f"{field} is too long: at most {limit} characters", f"{field}_too_long"
        )
    if any(ch in DIRECTION_CONTROLS for ch in text):
        raise ValidationError(
            f"{field} contains invisible direction-override characters; please retype it",
            f"invalid_{field}",
        )
    if _CONTROL.search(text):
        raise ValidationError(f"{field} contains control characters", f"invalid_{field}")
    return text
