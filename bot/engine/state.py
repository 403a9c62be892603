"""A participant's place in a flow, stored as JSON between messages."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from bot.engine.model import Value

Status = Literal["active", "waiting", "ended"]


@dataclass(frozen=True)
class SessionState:
    """Where a participant is in one flow.

    ``answers`` are this session's answers by ``save`` name; ``fields`` the
    participant's fields; ``history`` the answers of *earlier* check-ins by name,
    oldest first. The host reloads ``fields`` and ``history`` each turn and must
    leave this session's own answers out of ``history``: the recent-history
    functions add them from ``answers``, so they would otherwise count twice.
    """

    flow_id: str
    flow_version: int
    language: str
    step: str
    started_at: datetime
    expires_at: datetime
    status: Status = "active"
    retries: int = 0
    waiting_since: datetime | None = None
    timeout_at: datetime | None = None
    answers: dict[str, Value] = field(default_factory=dict)
    fields: dict[str, Value] = field(default_factory=dict)
    history: dict[str, list[Value]] = field(default_factory=dict)
    outcome: str | None = None

    def evolve(self, **changes: Any) -> SessionState:
        """A copy with ``changes``, as ``dataclasses.replace`` makes it, for about a quarter
        of the cost: a turn evolves its state about five times, and ``replace`` (which reads
        every field and calls ``__init__``) was 5 % of a turn's CPU in cProfile."""
        if not changes.keys() <= _FIELDS:
            raise TypeError(f"SessionState has no field {sorted(changes.keys() - _FIELDS)}")
        copy = object.__new__(type(self))
        vars(copy).update(vars(self), **changes)
        return copy

    def to_json(self) -> dict[str, Any]:
        """The part the host stores; fields and history are reloaded fresh each turn."""
        return {
            "flow_id": self.flow_id,
            "flow_version": self.flow_version,
            "language": self.language,
            "step": self.step,
            "started_at": self.started_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "status": self.status,
            "retries": self.retries,
            "waiting_since": self.waiting_since.isoformat() if self.waiting_since else None,
            "timeout_at": self.timeout_at.isoformat() if self.timeout_at else None,
            "answers": dict(self.answers),
            "outcome": self.outcome,
        }

    @classmethod
    def from_json(
        cls,
        data: dict[str, Any],
        fields: dict[str, Value] | None = None,
        history: dict[str, list[Value]] | None = None,
    ) -> SessionState:
        def when(key: str) -> datetime | None:
            raw = data.get(key)
            return datetime.fromisoformat(raw) if raw else None

        started, expires = when("started_at"), when("expires_at")
        assert started is not None and expires is not None
        return cls(
            flow_id=data["flow_id"],
            flow_version=int(data["flow_version"]),
            language=data["language"],
            step=data["step"],
            started_at=started,
            expires_at=expires,
            status=data["status"],
            retries=int(data.get("retries", 0)),
            waiting_since=when("waiting_since"),
            timeout_at=when("timeout_at"),
            answers=dict(data.get("answers", {})),
            fields=dict(fields or {}),
            history={k: list(v) for k, v in (history or {}).items()},
            outcome=data.get("outcome"),
        )


_FIELDS = frozenset(f.name for f in fields(SessionState))
