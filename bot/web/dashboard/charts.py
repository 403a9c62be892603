"""Small server-rendered SVG charts of a participant's recent answers (numbers only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.web.dashboard.render import when

# answer key, label, the scale's lowest and highest value
SERIES: tuple[tuple[str, str, float, float], ...] = (
    ("activity_pain", "Pain during activity (0-10)", 0, 10),
    ("sleep_quality", "Sleep quality (0-10)", 0, 10),
    ("activity_level", "Activity", 0, 10),
    ("goal_attainment", "Goal attainment (-2 to +2)", -2, 2),
)
KEYS = tuple(key for key, _label, _lo, _hi in SERIES)
WEEKS = 8
WIDTH, HEIGHT = 300, 96
LEFT, RIGHT, TOP, BOTTOM = 28, 8, 8, 18


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    at: datetime


@dataclass(frozen=True)
class Chart:
    key: str
    label: str
    low: float
    high: float
    points: list[Point]
    summary: str
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def plot(self) -> dict[str, float]:
        return {"left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": HEIGHT - BOTTOM}

    def y_of(self, value: float) -> float:
        span = self.high - self.low or 1
        return TOP + (self.high - value) / span * (HEIGHT - TOP - BOTTOM)


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def build_chart(
    key: str,
    label: str,
    low: float,
    high: float,
    answers: list[tuple[datetime, Any]],
    now: datetime,
) -> Chart:
    start = now - timedelta(weeks=WEEKS)
    values = [(at, v) for at, raw in answers if (v := number(raw)) is not None and at >= start]
    if values:
        low = min(low, min(v for _at, v in values))
        high = max(high, max(v for _at, v in values))
    chart = Chart(key, label, low, high, [], "")
    span = (now - start).total_seconds() or 1
    points = [
        Point(
            LEFT + (at - start).total_seconds() / span * (WIDTH - LEFT - RIGHT),
            chart.y_of(v),
            v,
            at,
        )
        for at, v in values
    ]
    if points:
        latest = points[-1]
        summary = (
            f"{label}: {len(points)} answers in the last {WEEKS} weeks, "
            f"from {min(p.value for p in points):g} to {max(p.value for p in points):g}; "
            f"latest {latest.value:g} on {when(latest.at)}."
        )
    else:
        summary = f"{label}: no answers in the last {WEEKS} weeks."
    return Chart(key, label, low, high, points, summary)


def build_charts(answers: dict[str, list[tuple[datetime, Any]]], now: datetime) -> list[Chart]:
    return [
        build_chart(key, label, low, high, answers.get(key, []), now)
        for key, label, low, high in SERIES
    ]


def since(now: datetime) -> datetime:
    return now - timedelta(weeks=WEEKS)
