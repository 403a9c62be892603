"""Charts as server-rendered SVG: no script, no external files, readable when printed.

Each chart has a title and description for screen readers, and the page shows the
same numbers in a table beside it, so no one depends on seeing the chart.
Colours come in pairs that stay distinct for the common colour-vision deficiencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

ANSWERED = "#005eb8"  # NHS blue
MISSED = "#ed8b00"  # NHS orange
OTHER = "#768692"  # NHS mid grey
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    values: Sequence[float]


def _svg(width: int, height: int, title: str, description: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" {FONT}>'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>"
        + "".join(body)
        + "</svg>"
    )


def _legend(series: Sequence[Series], x: int, y: int) -> list[str]:
    parts = []
    for i, s in enumerate(series):
        left = x + i * 110
        parts.append(f'<rect x="{left}" y="{y - 9}" width="10" height="10" fill="{s.colour}"/>')
        parts.append(f'<text x="{left + 14}" y="{y}">{escape(s.name)}</text>')
    return parts


def stacked_columns(
    labels: Sequence[str], series: Sequence[Series], title: str, line: Series | None = None
) -> Markup:
    """One column per label (a week), stacked by series; an optional marker per column."""
    width, height, left, bottom, top = 640, 240, 40, 40, 30
    plot_h = height - bottom - top
    count = max(len(labels), 1)
    slot = (width - left - 10) / count
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max([*totals, *(line.values if line else []), 1])
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#333"/>'
    ]
    body.append(f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak:g}</text>')
    body.append(f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>')
    for i, label in enumerate(labels):
        x = left + i * slot + slot * 0.15
        bar_w = slot * 0.7
        y: float = top + plot_h
        for s in series:
            h = plot_h * s.values[i] / peak
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{escape(label)}: {s.values[i]:g} {escape(s.name)}</title></rect>'
            )
        if line is not None:
            ly = top + plot_h - plot_h * line.values[i] / peak
            body.append(
                f'<line x1="{x:.1f}" x2="{x + bar_w:.1f}" y1="{ly:.1f}" y2="{ly:.1f}" '
                f'stroke="{line.colour}" stroke-width="2"/>'
            )
        if count <= 16 or i % 2 == 0:
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    legend = [*series, *([line] if line else [])]
    body += _legend(legend, left, 14)
    description = "; ".join(
        f"{label}: " + ", ".join(f"{s.name} {s.values[i]:g}" for s in legend)
        for i, label in enumerate(labels)
    )
    return _svg(width, height, title, description or "no data", body)


def rate_bars(rows: Sequence[tuple[str, float | None, int]], title: str) -> Markup:
    """Horizontal bars of a rate (0-1) per group, labelled with the rate and the count."""
    row_h, left, width = 22, 150, 640
    height = 30 + row_h * max(len(rows), 1)
    plot_w = width - left - 90
    body = [f'<line x1="{left}" y1="20" x2="{left}" y2="{height - 6}" stroke="#333"/>']
    for i, (group, rate, total) in enumerate(rows):
        y = 24 + i * row_h
        body.append(
            f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(group[:24])}</text>'
        )
        if rate is None:
            body.append(f'<text x="{left + 6}" y="{y + 12}">no check-ins</text>')
            continue
        w = plot_w * rate
        body.append(
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="{ANSWERED}"/>'
        )
        body.append(f'<text x="{left + w + 6:.1f}" y="{y + 12}">{rate:.0%} of {total}</text>')
    description = "; ".join(
        f"{g}: {'no check-ins' if r is None else f'{r:.0%} of {n}'}" for g, r, n in rows
    )
    return _svg(width, height, title, description or "no data", body)
