"""``python -m bot chat --flow FLOW --lang LANG``: the engine in a terminal, no database.

Type replies; ``/wait`` makes the current question time out; ``/quit`` leaves.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot import engine
from bot.engine import Event, Message, Reply, Timeout
from bot.host.services import FlowLibrary
from bot.i18n.catalogs import default_catalogs
from bot.i18n.languages import normalise_language
from bot.safety import crisis_reply, screen


def _show(events: list[Event]) -> None:
    for event in events:
        if isinstance(event, Message):
            print(f"\n< {event.text}")
        elif event.kind in ("answer", "escalate", "end", "error", "start_flow"):
            print(
                f"  [{event.kind}: {', '.join(f'{k}={v}' for k, v in vars(event).items() if k != 'kind')}]"
            )


def chat(flow_id: str, language: str, name: str) -> int:
    language = normalise_language(language)
    library = FlowLibrary.load()
    flow = library.get(flow_id)
    if flow is None:
        print(f"no flow called {flow_id!r}; flows: {', '.join(sorted(library.flows))}")
        return 1
    tr = default_catalogs()
    state, events = engine.start(
        flow, language=language, now=datetime.now(UTC), fields={"name": name}, tr=tr
    )
    _show(events)
    while state.status != "ended":
        try:
            text = input("> ")
        except EOFError:
            break
        if text.strip() == "/quit":
            break
        hit = screen(text)
        if hit is not None:
            print(
                f"\n< {crisis_reply(hit.kind, language)}\n  [escalate: {hit.priority}, {hit.reason}]"
            )
            break
        reply = Timeout() if text.strip() == "/wait" else Reply(text)
        state, events = engine.resume(flow, state, reply, datetime.now(UTC), tr=tr)
        _show(events)
    return 0
