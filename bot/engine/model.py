"""The flow definition: what staff write in YAML, as immutable data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Literal

from bot.engine.conditions import Condition

AskType = Literal["number", "choice", "yes_no", "text"]
Priority = Literal["urgent", "high", "routine"]
StepKind = Literal["say", "ask", "branch", "escalate", "goto", "start_flow", "set", "end"]
STEP_KINDS: tuple[StepKind, ...] = (
    "say",
    "ask",
    "branch",
    "escalate",
    "goto",
    "start_flow",
    "set",
    "end",
)
PRIORITIES: tuple[Priority, ...] = ("urgent", "high", "routine")

Value = str | int | float | bool | None


@dataclass(frozen=True)
class Option:
    """One answer a choice question offers; matched by number, word, button or emoji."""

    value: str | int | float
    label: str
    words: tuple[str, ...] = ()
    emoji: tuple[str, ...] = ()
    goto: str | None = None


@dataclass(frozen=True)
class Ask:
    type: AskType
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = True
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Branch:
    condition: Condition | None  # None means "else"
    goto: str


@dataclass(frozen=True)
class Escalation:
    priority: Priority
    reason: str


@dataclass(frozen=True)
class Step:
    id: str
    kind: StepKind
    line: int
    text: str | None = None
    ask: Ask | None = None
    save: str | None = None
    next: str | None = None
    timeout: timedelta | None = None
    on_timeout: str | None = None
    retries: int = 1
    reprompt: str | None = None
    on_unclear: str | None = None
    branches: tuple[Branch, ...] = ()
    escalation: Escalation | None = None
    goto: str | None = None
    start_flow: str | None = None
    set_fields: tuple[tuple[str, Value], ...] = ()
    outcome: str | None = None


@dataclass(frozen=True)
class Flow:
    id: str
    version: int
    title: str
    expires_after: timedelta
    start: str
    steps: dict[str, Step]
    order: tuple[str, ...]
    file: str = "<flow>"
    if_busy: Literal["skip", "wait", "replace"] = "skip"
    description: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @cached_property
    def _next_in_file(self) -> dict[str, str | None]:
        return {
            step: (self.order[i + 1] if i + 1 < len(self.order) else None)
            for i, step in enumerate(self.order)
        }

    def following(self, step_id: str) -> str | None:
        """The step written after ``step_id`` in the file, the default next step."""
        return self._next_in_file[step_id]

    def saved_names(self) -> frozenset[str]:
        return self._saved_names

    def history_names(self) -> frozenset[str]:
        """Answer names whose earlier check-ins the conditions look back over.

        They may be saved by another flow; the host loads ``history`` for these.
        """
        return self._history_names

    # A flow never changes once loaded, and every inbound turn asks for these (walking
    # each condition's syntax tree took a few percent of a turn's CPU).
    @cached_property
    def _saved_names(self) -> frozenset[str]:
        return frozenset(s.save for s in self.steps.values() if s.save)

    @cached_property
    def _history_names(self) -> frozenset[str]:
        return frozenset(
            name
            for step in self.steps.values()
            for branch in step.branches
            if branch.condition is not None
            for name in branch.condition.history_names()
        )
