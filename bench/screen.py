"""CPU per inbound message of the safety screen and the concern net, by kind of message.

Every inbound message passes both before anything else happens to it, so their cost is
part of every turn, and a long message is a cost an outsider chooses. Process CPU time,
best of ``--repeat`` rounds, in microseconds a message:

    python bench/screen.py                  # short answers, labelled lines, long messages
    python bench/screen.py --repeat 9
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import emit
from bot.safety import load_all
from bot.safety.concern import concern
from bot.safety.evaluate import load_dir
from bot.safety.screen import screen

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["7", "yes", "No", "Tak", "3", "ہاں", "done"]
SENTENCE = "I slept badly, the pain woke me up twice"
LONG_LATIN = ("the pain was bad today and I did my stretches " * 40)[:1600]  # one long SMS
LONG_WORDS = ("x " * 2048)[:4096]  # a WhatsApp or Telegram message at its limit


def per_message(check: Callable[[str], object], texts: list[str], rounds: int) -> float:
    """Best process-CPU microseconds per message over ``rounds`` passes of ``texts``."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for text in texts:
            check(text)
        best = min(best, time.process_time() - start)
    return round(best / len(texts) * 1e6, 1)


def main() -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="rounds; the best one counts")
    args = p.parse_args()
    load_all()
    labelled = [
        item.text
        for items in load_dir(ROOT / "tests" / "safety" / "labelled").values()
        for item in items
    ]
    sets = {
        "short_answers": SHORT * 20,
        "sentence_40_chars": [SENTENCE] * 20,
        "labelled_lines": labelled,
        "sms_1600_chars": [LONG_LATIN] * 3,
        "message_4096_chars": [LONG_WORDS] * 2,
    }
    for check in (screen, concern):  # compile on first use, outside the timing
        for texts in sets.values():
            for text in texts:
                check(text)
    return {
        "microseconds_per_message": {
            name: {
                "screen": per_message(screen, texts, args.repeat),
                "concern": per_message(concern, texts, args.repeat),
            }
            for name, texts in sets.items()
        },
        "labelled_lines": len(labelled),
        "repeat": args.repeat,
    }


if __name__ == "__main__":
    emit(main())
