"""Crisis and red-flag safety screen: every inbound message passes ``screen`` first.

Public API (other packages import only these names):
``screen(text)`` -> ``SafetyHit | None``; ``crisis_reply(kind, language, local_line)``;
``concern(text)`` -> ``ConcernHit | None`` (the broad second tier: a person reads it, no reply);
``review_findings(today)``; ``load_all()``; ``normalise(text)`` for anyone matching typed words.
The phrases, idiom exceptions, concern words, numbers and reply wording live in
``bot/safety/data/*.yaml``.

Importing this package reads and compiles every data file (under a second), so a broken
file stops the service at start-up with a ``SafetyDataError`` naming the file and entry,
instead of failing on the first participant's message.
"""

from __future__ import annotations

from .concern import ConcernHit, concern
from .datafiles import SafetyDataError, review_findings
from .lexicon import Kind
from .normalise import match_key, normalise
from .replies import REPLY_LANGUAGES, crisis_reply
from .screen import SafetyHit, load_all, screen

__all__ = [
    "REPLY_LANGUAGES",
    "ConcernHit",
    "Kind",
    "SafetyDataError",
    "SafetyHit",
    "concern",
    "crisis_reply",
    "load_all",
    "match_key",
    "normalise",
    "review_findings",
    "screen",
]

load_all()
