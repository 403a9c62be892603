"""The pure flow engine. Imports nothing from the host, channels, web or store."""

from bot.engine.events import (
    Answer,
    End,
    Error,
    Escalate,
    Event,
    Message,
    SetField,
    StartFlow,
    Wait,
)
from bot.engine.loader import load_flow_dir, load_flow_file, parse_flow
from bot.engine.localizer import Localizer, SourceLocalizer
from bot.engine.model import Ask, Flow, Option, Step
from bot.engine.runner import Input, Reply, Timeout, resume, start
from bot.engine.state import SessionState

__all__ = [
    "Answer",
    "Ask",
    "End",
    "Error",
    "Escalate",
    "Event",
    "Flow",
    "Input",
    "Localizer",
    "Message",
    "Option",
    "Reply",
    "SessionState",
    "SetField",
    "SourceLocalizer",
    "StartFlow",
    "Step",
    "Timeout",
    "Wait",
    "load_flow_dir",
    "load_flow_file",
    "parse_flow",
    "resume",
    "start",
]
