"""What the engine asks the host to do. One host handler per event type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.engine.model import Priority, Value


@dataclass(frozen=True)
class Message:
    text: str
    buttons: tuple[tuple[str, str], ...] = ()  # (label, payload) for channels with buttons
    kind: Literal["message"] = "message"


@dataclass(frozen=True)
class Answer:
    key: str
    value: Value
    flow: str
    kind: Literal["answer"] = "answer"


@dataclass(frozen=True)
class Escalate:
    priority: Priority
    reason: str
    source: str = "flow"
    kind: Literal["escalate"] = "escalate"


@dataclass(frozen=True)
class SetField:
    name: str
    value: Value
    kind: Literal["set_field"] = "set_field"


@dataclass(frozen=True)
class Wait:
    until: datetime | None  # None: wait without a timeout (until the flow expires)
    kind: Literal["wait"] = "wait"


@dataclass(frozen=True)
class End:
    outcome: str  # completed, expired, timed_out, unclear, moved, error, or a flow's own word
    kind: Literal["end"] = "end"


@dataclass(frozen=True)
class StartFlow:
    flow: str
    kind: Literal["start_flow"] = "start_flow"


@dataclass(frozen=True)
class Error:
    message: str
    kind: Literal["error"] = "error"


Event = Message | Answer | Escalate | SetField | Wait | End | StartFlow | Error
EVENT_KINDS = ("message", "answer", "escalate", "set_field", "wait", "end", "start_flow", "error")
