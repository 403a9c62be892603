"""Per-language checks of what a flow sends: translations and the SMS segment budget.

The texts and their contexts come from ``bot.i18n.sources`` (what ``flows extract``
writes for translators) and the rendered messages from ``bot.i18n.outbound``, so
the check sees exactly what a participant would get.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.authoring.findings import Finding
from bot.authoring.names import placeholders
from bot.authoring.sources import display_name
from bot.engine import Flow
from bot.i18n.catalogs import TRANSLATIONS, Catalogs
from bot.i18n.languages import LANGUAGES
from bot.i18n.outbound import flow_messages
from bot.i18n.sms import cost, encoding
from bot.i18n.sources import SourceText, flow_texts

OTHER_LANGUAGES = tuple(code for code in LANGUAGES if code != "en")
SHOW_STEPS = 6  # steps named in one finding before "and N more"


def po_name(language: str, directory: Path = TRANSLATIONS) -> str:
    return display_name(directory / language / "LC_MESSAGES" / "messages.po")


def catalog_findings(tr: Catalogs, directory: Path = TRANSLATIONS) -> list[Finding]:
    """Languages with no catalog at all: one finding each, not one per flow."""
    missing = [code for code in OTHER_LANGUAGES if code not in tr.entries]
    if not missing:
        return []
    if len(missing) == len(OTHER_LANGUAGES):
        return [
            Finding(
                display_name(directory),
                None,
                "warning",
                "no-catalog",
                "there are no translations yet: participants in every language but English get "
                "the English text (run python -m bot flows extract, then translate the PO files)",
            )
        ]
    return [
        Finding(
            po_name(code, directory),
            None,
            "warning",
            "no-catalog",
            f"there is no translation file for {LANGUAGES[code].english_name}: those "
            "participants get the English text (run python -m bot flows extract)",
            language=code,
        )
        for code in missing
    ]


def _steps(texts: Iterable[SourceText], flow: Flow) -> str:
    ids = list(dict.fromkeys(t.context.split(".")[1] for t in texts if "." in t.context))
    shown = ", ".join(ids[:SHOW_STEPS])
    return shown + (f" and {len(ids) - SHOW_STEPS} more" if len(ids) > SHOW_STEPS else "")


def _first_line(texts: list[SourceText]) -> int | None:
    lines = [line for t in texts for _, line in t.locations if line]
    return min(lines) if lines else None


def translation_findings(flow: Flow, file: str, tr: Catalogs) -> list[Finding]:
    """Missing, draft (fuzzy) and placeholder-breaking translations; one line per problem
    kind and flow, naming each language (the coverage table has the full counts)."""
    found: list[Finding] = []
    texts = [t for t in flow_texts(flow) if not t.verbatim]
    missing: dict[str, list[SourceText]] = {}
    fuzzy: dict[str, list[SourceText]] = {}
    for language in OTHER_LANGUAGES:
        table = tr.entries.get(language)
        if table is None:
            continue  # reported once by catalog_findings
        for text in texts:
            entry = table.get((text.context, text.msgid))
            if entry is None or not entry.text:
                missing.setdefault(language, []).append(text)
                continue
            if entry.fuzzy:
                fuzzy.setdefault(language, []).append(text)
            found += _placeholder_findings(flow, file, text, entry.text, language)
    if missing:
        every = [t for items in missing.values() for t in items]
        counts = ", ".join(f"{lang} {len(items)}" for lang, items in missing.items())
        found.append(
            Finding(
                file,
                _first_line(every),
                "warning",
                "missing-translation",
                f"texts with no translation, sent in English instead (of {len(texts)}): "
                f"{counts} (steps {_steps(every, flow)})",
                flow.id,
            )
        )
    if fuzzy:
        every = [t for items in fuzzy.values() for t in items]
        counts = ", ".join(f"{lang} {len(items)}" for lang, items in fuzzy.items())
        found.append(
            Finding(
                file,
                _first_line(every),
                "warning",
                "fuzzy-translation",
                f"draft (fuzzy) translations a native speaker has not reviewed: {counts} "
                f"(steps {_steps(every, flow)}); with REQUIRE_REVIEWED_TRANSLATIONS on, "
                "English is sent instead",
                flow.id,
            )
        )
    return found


def _placeholder_findings(
    flow: Flow, file: str, text: SourceText, translated: str, language: str
) -> list[Finding]:
    if text.context.endswith(".words"):
        return []
    source, target = placeholders(text.msgid), placeholders(translated)
    problems = []
    if target - source:
        extra = ", ".join("{" + n + "}" for n in sorted(target - source))
        problems.append(f"uses {extra}, which the English does not have (sent as nothing)")
    if source - target:
        lost = ", ".join("{" + n + "}" for n in sorted(source - target))
        problems.append(f"leaves out {lost}")
    if not problems:
        return []
    line = text.locations[0][1] if text.locations else None
    return [
        Finding(
            file,
            line,
            "warning",
            "placeholder-mismatch",
            f"{language}: the translation of {text.context} "
            + " and ".join(problems)
            + "; keep each {name} exactly as in the English",
            flow.id,
            text.context.split(".")[1] if "." in text.context else None,
            language,
        )
    ]


def _not_gsm(text: str) -> str:
    odd = sorted({ch for ch in text if encoding(ch) != "gsm7"})
    return " ".join(f"{ch} (U+{ord(ch):04X})" for ch in odd[:6])


def _translated_steps(tr: Catalogs, language: str) -> set[str]:
    """The ``<flow>.<step>`` contexts whose main text has a translation in ``language``."""
    return {context for (context, _), entry in tr.entries.get(language, {}).items() if entry.text}


def segment_findings(flow: Flow, file: str, tr: Catalogs) -> list[Finding]:
    """Messages over one GSM-7 segment (160) or two UCS-2 segments (134), per language.

    English is counted always; another language only where the step is translated
    (untranslated steps send the English, counted once, and are reported as missing).
    """
    found: list[Finding] = []
    lines = {f"{flow.id}.{s.id}": s.line for s in flow.steps.values()}
    over: dict[str, list[str]] = {}
    for language in LANGUAGES:
        translated = _translated_steps(tr, language)
        for message in flow_messages(flow, language, tr):
            step_context = ".".join(message.context.split(".")[:2])
            if language != "en" and step_context not in translated:
                continue
            spent = cost(message.text)
            what = "re-ask" if message.context.endswith(".reprompt") else "message"
            step_id = step_context.split(".")[1]
            if language == "en" and spent.encoding == "ucs2":
                found.append(
                    _english_ucs2(flow, file, lines[step_context], step_id, what, message.text)
                )
                continue
            if spent.over:
                over.setdefault(message.context, []).append(
                    f"{language} {spent.units} {'GSM-7' if spent.encoding == 'gsm7' else 'UCS-2'}"
                    f" characters = {spent.segments} segments"
                )
    for context, problems in over.items():
        step_id = context.split(".")[1]
        what = "re-ask" if context.endswith(".reprompt") else "message"
        found.append(
            Finding(
                file,
                lines[".".join(context.split(".")[:2])],
                "warning",
                "sms-length",
                f"step {step_id!r}: the {what} is over the SMS budget (1 segment of 160 "
                f"GSM-7 characters, or 2 of 67 UCS-2): {'; '.join(problems)}; shorten it "
                "(long sample values count: names 12, goals 30 characters)",
                flow.id,
                step_id,
            )
        )
    return found


def _english_ucs2(flow: Flow, file: str, line: int, step_id: str, what: str, text: str) -> Finding:
    spent = cost(text)
    step = flow.steps[step_id]
    labels = "".join(o.label for o in step.ask.options) if step.ask else ""
    odd = {ch for ch in text if encoding(ch) != "gsm7"}
    if labels and all(ch in labels for ch in odd):
        return Finding(
            file,
            line,
            "warning" if spent.over else "note",
            "sms-length",
            f"step {step_id!r}: the {what} shows answers in other scripts, so the English SMS "
            f"is UCS-2: {spent.units} characters = {spent.segments} segments",
            flow.id,
            step_id,
            "en",
        )
    return Finding(
        file,
        line,
        "warning",
        "sms-encoding",
        f"step {step_id!r}: the English {what} has characters outside the SMS alphabet "
        f"({_not_gsm(text)}), so it is sent as UCS-2 (70 characters a segment): "
        f"{spent.units} characters = {spent.segments} segments; use plain ' and \" quotes and "
        "- instead of curly quotes and long dashes",
        flow.id,
        step_id,
        "en",
    )
