"""``python -m bot.safety.evaluate [DIR] [--unseen LABELLED_DIR] [--time N] [--concern]``.

Reads ``DIR/<language>.tsv`` (``label<TAB>text``; default ``tests/safety/labelled``) and
prints, per language, the crisis recall, the false-alarm rate on lines that should not
alert, and every miss and false alarm, so a lexicon change can be judged before it is
merged. Exit status 1 if any crisis or red-flag line is missed. The tests use the same code.

``--unseen tests/safety/labelled`` leaves out lines that are also in the labelled files
(after normalisation), so a held-out set measures only phrasings the lexicon was not
written against. ``--time N`` screens N messages (the lines, repeated) and prints the time.
``--concern`` adds the second tier (``concern``): per language, the crisis lines that reach
a person automatically (screen OR concern), and how often the concern net fires on lines
that should not alert.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .concern import ConcernHit, concern
from .normalise import match_key
from .screen import SafetyHit, screen

LABELS = ("crisis", "red_flag", "urgent_symptom", "none")
# A red flag may also be reported as crisis (crisis outranks it); an urgent symptom as either.
ACCEPTED = {
    "crisis": {"crisis"},
    "red_flag": {"red_flag", "crisis"},
    "urgent_symptom": {"urgent_symptom", "red_flag", "crisis"},
}
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "tests" / "safety" / "labelled"


@dataclass(frozen=True)
class Labelled:
    label: str
    text: str
    line: int


@dataclass
class Result:
    """Counts and the lines to look at for one labelled file."""

    language: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LABELS, 0))
    misses: list[tuple[Labelled, SafetyHit | None]] = field(default_factory=list)
    false_alarms: list[tuple[Labelled, SafetyHit]] = field(default_factory=list)
    # The concern tier: crisis lines it adds, crisis lines neither tier reaches, and
    # "none" lines it fires on (whatever the screen said about them).
    concern_adds: list[tuple[Labelled, ConcernHit]] = field(default_factory=list)
    unreached: list[Labelled] = field(default_factory=list)
    concern_on_none: list[tuple[Labelled, ConcernHit]] = field(default_factory=list)

    def missed(self, label: str) -> list[tuple[Labelled, SafetyHit | None]]:
        return [(item, hit) for item, hit in self.misses if item.label == label]

    def recall(self, label: str = "crisis") -> float:
        total = self.counts[label]
        return 1.0 if total == 0 else (total - len(self.missed(label))) / total

    @property
    def false_alarm_rate(self) -> float:
        total = self.counts["none"]
        return 0.0 if total == 0 else len(self.false_alarms) / total

    def combined_recall(self) -> float:
        """Share of crisis lines that reach a person automatically: any screen hit (an
        urgent item) or, failing that, a concern hit (a high item)."""
        total = self.counts["crisis"]
        return 1.0 if total == 0 else (total - len(self.unreached)) / total

    @property
    def concern_rate(self) -> float:
        """Share of "none" lines on which the concern net fires."""
        total = self.counts["none"]
        return 0.0 if total == 0 else len(self.concern_on_none) / total


def load_labelled(path: Path) -> list[Labelled]:
    """Lines ``label<TAB>text``; blank lines and lines starting with ``#`` are skipped."""
    items = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        label, tab, text = raw.partition("\t")
        if not tab or label not in LABELS or not text.strip():
            raise ValueError(f"{path}:{number}: expected 'label<TAB>text' with label in {LABELS}")
        items.append(Labelled(label, text, number))
    return items


def evaluate(language: str, items: Sequence[Labelled]) -> Result:
    result = Result(language)
    for item in items:
        result.counts[item.label] += 1
        hit = screen(item.text)
        worry = concern(item.text)
        if item.label == "none":
            if hit is not None:
                result.false_alarms.append((item, hit))
            if worry is not None:
                result.concern_on_none.append((item, worry))
        elif hit is None or hit.kind not in ACCEPTED[item.label]:
            result.misses.append((item, hit))
        if item.label == "crisis" and hit is None:
            if worry is None:
                result.unreached.append(item)
            else:
                result.concern_adds.append((item, worry))
    return result


def load_dir(directory: Path, unseen: Path | None = None) -> dict[str, list[Labelled]]:
    """Lines per language; with ``unseen``, only those not also in ``unseen/<language>.tsv``."""
    files = sorted(directory.glob("*.tsv"))
    if not files:
        raise FileNotFoundError(f"no labelled .tsv files in {directory}")
    found: dict[str, list[Labelled]] = {}
    for path in files:
        items = load_labelled(path)
        other = unseen / path.name if unseen is not None else None
        if other is not None and other.exists():
            known = {match_key(item.text) for item in load_labelled(other)}
            items = [item for item in items if match_key(item.text) not in known]
        found[path.stem] = items
    return found


def evaluate_dir(directory: Path = DEFAULT_DIR, unseen: Path | None = None) -> list[Result]:
    return [evaluate(language, items) for language, items in load_dir(directory, unseen).items()]


def time_screen(texts: Sequence[str], count: int) -> float:
    """Seconds to screen ``count`` messages taken in turn from ``texts``."""
    messages = [texts[i % len(texts)] for i in range(count)]
    start = time.perf_counter()
    for text in messages:
        screen(text)
    return time.perf_counter() - start


def _describe(hit: SafetyHit | None) -> str:
    return "no alert" if hit is None else f"{hit.kind} ({hit.rule})"


def report(results: Sequence[Result]) -> str:
    head = (
        f"{'language':<10} {'crisis':>6} {'none':>5} {'recall':>7} {'false alarms':>14}"
        f" {'red flag':>9} {'urgent':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        alarms = f"{len(r.false_alarms)} ({r.false_alarm_rate:.1%})"
        flags = f"{r.counts['red_flag'] - len(r.missed('red_flag'))}/{r.counts['red_flag']}"
        urgent = (
            f"{r.counts['urgent_symptom'] - len(r.missed('urgent_symptom'))}"
            f"/{r.counts['urgent_symptom']}"
        )
        lines.append(
            f"{r.language:<10} {r.counts['crisis']:>6} {r.counts['none']:>5}"
            f" {r.recall():>7.1%} {alarms:>14} {flags:>9} {urgent:>7}"
        )
    for r in results:
        for item, hit in r.misses:
            lines.append(
                f"MISSED {r.language}:{item.line} [{item.label}] {item.text!r} -> {_describe(hit)}"
            )
    for r in results:
        for item, alarm in r.false_alarms:
            lines.append(
                f"false alarm {r.language}:{item.line} {item.text!r} -> {_describe(alarm)}"
            )
    return "\n".join(lines)


def concern_report(results: Sequence[Result]) -> str:
    """The two tiers together: crisis lines reached (screen OR concern), concern on none."""
    head = (
        f"{'language':<10} {'crisis':>6} {'screen':>7} {'+concern':>9} {'combined':>9}"
        f" {'none':>5} {'concern on none':>16}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        total = r.counts["crisis"]
        screened = total - len(r.unreached) - len(r.concern_adds)
        on_none = f"{len(r.concern_on_none)} ({r.concern_rate:.1%})"
        lines.append(
            f"{r.language:<10} {total:>6} {screened:>7} {len(r.concern_adds):>9}"
            f" {r.combined_recall():>9.1%} {r.counts['none']:>5} {on_none:>16}"
        )
    for r in results:
        for item in r.unreached:
            lines.append(f"UNREACHED {r.language}:{item.line} {item.text!r}")
    for r in results:
        for item, worry in r.concern_adds:
            lines.append(f"concern adds {r.language}:{item.line} {item.text!r} -> {worry.rule}")
    for r in results:
        for item, worry in r.concern_on_none:
            lines.append(f"concern on none {r.language}:{item.line} {item.text!r} -> {worry.rule}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.safety.evaluate")
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--unseen", type=Path, metavar="LABELLED_DIR", default=None)
    parser.add_argument("--time", type=int, metavar="N", default=0)
    parser.add_argument("--concern", action="store_true", help="add the concern tier")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    results = evaluate_dir(args.directory, args.unseen)
    print(report(results))
    if args.concern:
        print()
        print(concern_report(results))
    if args.time > 0:
        texts = [item.text for items in load_dir(args.directory).values() for item in items]
        seconds = time_screen(texts, args.time)
        print(
            f"screened {args.time} messages in {seconds:.2f} s "
            f"({seconds / args.time * 1e6:.0f} microseconds each)"
        )
    return 1 if any(r.misses for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
