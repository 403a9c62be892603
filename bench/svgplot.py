"""What the benchmark charts share (``bench/curve.py``, ``bench/burst.py``): the axes, a
line with its legend entry, and the document around them, in the reports' font.

Not a test module: the scripts in bench/ import it.
"""

from __future__ import annotations

from bot.reports.svg import FONT

Box = tuple[float, float, float, float]  # left, top, plot width, plot height


def axes(
    box: Box, height: float, x_label: str, y_ticks: list[tuple[float, str]], y_label: str = "ms"
) -> list[str]:
    """Both axes, ``y_ticks`` (height in the picture, label) on the left, ``x_label`` under
    the plot, ``y_label`` beside it."""
    left, top, plot_w, plot_h = box
    return [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
        *(
            f'<text x="{left - 6}" y="{at + 4:.1f}" text-anchor="end">{label}</text>'
            for at, label in y_ticks
        ),
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">{x_label}</text>',
        f'<text x="12" y="{top + plot_h / 2}" transform="rotate(-90 12 {top + plot_h / 2})" '
        f'text-anchor="middle">{y_label}</text>',
    ]


def series(box: Box, n: int, points: str, label: str, colour: str, dashed: bool) -> list[str]:
    """A polyline through ``points`` and its entry, the ``n``-th, in the legend on the right."""
    left, top, plot_w, _ = box
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    ly = top + 10 + n * 18
    return [
        f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>',
        f'<line x1="{left + plot_w + 4}" y1="{ly}" x2="{left + plot_w + 24}" y2="{ly}" '
        f'stroke="{colour}" stroke-width="2"{dash}/>',
        f'<text x="{left + plot_w + 28}" y="{ly + 4}">{label}</text>',
    ]


def document(width: float, height: float, left: float, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'{FONT} role="img" aria-label="{title}">'
        f"<title>{title}</title>"
        f'<text x="{left}" y="16" font-weight="bold">{title}</text>' + "".join(body) + "</svg>\n"
    )
