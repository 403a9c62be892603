"""Names that conditions and ``{placeholders}`` read: are they saved, set, or known fields?

A name nobody saves or sets is almost always a typo: the condition is then
always false and the placeholder is sent empty.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.authoring.findings import Finding
from bot.authoring.graph import reachable
from bot.engine import Flow
from bot.engine.conditions import RECENT_FUNCTIONS, Condition
from bot.engine.model import Step

# What the host gives every flow (bot.host.flows.participant_fields), what staff
# keep on the participant record, and the params the scheduler passes.
PARTICIPANT_FIELDS = frozenset({"name", "language", "channel", "coach_name", "organisation"})
GOAL_FIELDS = frozenset({"goal_1", "goal_2", "goal_3"})
TRIGGER_PARAMS = frozenset({"module", "module_name", "session_date", "session_time", "venue"})
KNOWN_FIELDS = PARTICIPANT_FIELDS | GOAL_FIELDS | TRIGGER_PARAMS
PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")


@dataclass
class Names:
    """Every answer saved and field set by any flow, with where."""

    saved: dict[str, list[tuple[str, Step]]] = field(default_factory=dict)
    set_by: dict[str, list[tuple[str, Step]]] = field(default_factory=dict)
    extra: frozenset[str] = KNOWN_FIELDS

    @classmethod
    def of(cls, flows: Iterable[Flow], extra: Iterable[str] = ()) -> Names:
        names = cls(extra=KNOWN_FIELDS | frozenset(extra))
        for flow in flows:
            for step in flow.steps.values():
                if step.save:
                    names.saved.setdefault(step.save, []).append((flow.id, step))
                for key, _ in step.set_fields:
                    names.set_by.setdefault(key, []).append((flow.id, step))
        return names

    def known(self) -> set[str]:
        return set(self.saved) | set(self.set_by) | set(self.extra)

    def suggestion(self, wrong: str) -> str:
        close = difflib.get_close_matches(wrong, sorted(self.known()), n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""


def plain_names(condition: Condition) -> set[str]:
    """Names read as this check-in's value (not inside min_recent/max_recent/count_recent)."""
    inside_history: set[int] = set()
    for node in ast.walk(condition.tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id != "answered"
        ):
            inside_history.update(id(arg) for arg in node.args)
    return {
        node.id
        for node in ast.walk(condition.tree)
        if isinstance(node, ast.Name)
        and node.id not in RECENT_FUNCTIONS
        and id(node) not in inside_history
    }


def texts_of(step: Step) -> list[str]:
    found = [t for t in (step.text, step.reprompt) if t]
    if step.ask:
        found += [o.label for o in step.ask.options]
    return found


def name_findings(flow: Flow, file: str, names: Names) -> list[Finding]:
    found: list[Finding] = []
    known = names.known()
    for step_id in flow.order:
        step = flow.steps[step_id]
        for branch in step.branches:
            if branch.condition is None:
                continue
            for name in sorted(branch.condition.names()):
                if name not in known:
                    found.append(
                        Finding(
                            file,
                            step.line,
                            "warning",
                            "unknown-name",
                            f"the condition {branch.condition.source!r} in step {step_id!r} "
                            f"reads {name!r}, which no flow saves or sets and is not a "
                            f"participant field, so it is always empty{names.suggestion(name)}",
                            flow.id,
                            step_id,
                        )
                    )
            found += _before_saved(flow, file, step, branch.condition, names)
        for text in texts_of(step):
            for name in sorted(set(PLACEHOLDER.findall(text))):
                if name not in known:
                    found.append(
                        Finding(
                            file,
                            step.line,
                            "warning",
                            "unknown-placeholder",
                            f"step {step_id!r} shows {{{name}}}, which no flow saves or sets "
                            f"and is not a participant field, so it is sent as nothing"
                            f"{names.suggestion(name)}",
                            flow.id,
                            step_id,
                        )
                    )
    return found


_AFTER: dict[tuple[int, str], tuple[Flow, set[str]]] = {}


def _after_saving(flow: Flow, name: str, savers: list[Step]) -> set[str]:
    """Steps that can run after a question saving ``name`` (not the question itself)."""
    cached = _AFTER.get((id(flow), name))
    if cached is not None and cached[0] is flow:
        return cached[1]
    found: set[str] = set()
    for saver in savers:
        found |= {s for s in reachable(flow, saver.id) if s != saver.id}
    if len(_AFTER) > 4096:
        _AFTER.clear()
    _AFTER[(id(flow), name)] = (flow, found)
    return found


def _before_saved(
    flow: Flow, file: str, step: Step, condition: Condition, names: Names
) -> list[Finding]:
    """Answers a condition reads as this check-in's value, where it cannot have one yet.

    A plain name reads this check-in's answers, then the participant's fields; an
    answer saved by another flow, or later in this one, is never there.
    """
    found: list[Finding] = []
    for name in sorted(plain_names(condition)):
        sources = names.saved.get(name, [])
        if not sources or name in names.set_by or name in names.extra:
            continue
        here = [s for flow_id, s in sources if flow_id == flow.id]
        if step.id in _after_saving(flow, name, here):
            continue
        if here:
            where = f"saved at {', '.join(repr(s.id) for s in here)}"
            problem = f"before any question saves it in this check-in ({where})"
        else:
            others = sorted({flow_id for flow_id, _ in sources})
            problem = f"but only {', '.join(others)} saves it, in another check-in"
        found.append(
            Finding(
                file,
                step.line,
                "warning",
                "read-before-saved",
                f"step {step.id!r} reads {name!r} {problem}, so it is always empty here; "
                f"to look at earlier check-ins use min_recent({name}, 1) or similar",
                flow.id,
                step.id,
            )
        )
    return found


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))
