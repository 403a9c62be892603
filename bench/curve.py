"""Latency against offered load: ``bench/inbound.py`` in open loop at several rates.

The closed-loop figures say how fast one process can go flat out; this says how it
answers below that, which is where a service spends its days: the webhook's
latency and the time until the reply reaches the provider, at each offered rate,
with the process CPU beside them. Each rate is one ``bench/inbound.py --rate R
--replies --skip-bare`` run (a fresh database each time); the figures are printed as
a Markdown table and drawn as an SVG chart.

    python bench/curve.py --database sqlite --rates 10,25,50,75,100 --svg docs/inbound-curve-sqlite.svg
    python bench/curve.py --database postgresql --worker --rates 10,25,50,75,100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.svgplot import axes, document, series  # noqa: E402
from bot.reports.svg import ANSWERED, MISSED, OTHER  # noqa: E402

TARGET_MS = 50.0  # issue 9: p99 under 50 ms
LINES = (  # (figure, label, colour, dashed): the reports' colour pair
    ("p50_ms", "webhook p50", ANSWERED, False),
    ("p99_ms", "webhook p99", ANSWERED, True),
    ("reply_p50_ms", "reply at provider p50", MISSED, False),
    ("reply_p99_ms", "reply at provider p99", MISSED, True),
)


def run_one(args: argparse.Namespace, rate: float) -> dict[str, Any]:
    command = [
        sys.executable, str(ROOT / "bench" / "inbound.py"), "--database", args.database,
        "--rate", f"{rate:g}", "--seconds", f"{args.seconds:g}", "--replies", "--skip-bare",
    ]  # fmt: skip
    if args.worker:
        command.append("--worker")
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        raise SystemExit(f"bench/inbound.py failed at {rate:g}/s")
    figures: dict[str, Any] = json.loads(done.stdout)
    serve = figures["serve"]
    row = {
        "offered": rate,
        "achieved": serve["per_second"],
        **{key: serve.get(key) for key, *_ in LINES},
        "serve_cores": serve["cpu_cores_used"],
        "worker_cores": figures.get("worker", {}).get("cpu_cores_used"),
        "mean_batch": serve.get("mean_batch"),
        "load_before": serve["machine_before"]["load"][0],
        "checks": figures["checks"],
    }
    return row


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| offered /s | achieved /s | webhook p50 / p99 ms | reply p50 / p99 ms "
        "| serve cores | worker cores | mean batch | load before |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['offered']:g} | {r['achieved']} | {r['p50_ms']} / {r['p99_ms']} "
        f"| {r['reply_p50_ms']} / {r['reply_p99_ms']} | {r['serve_cores']} "
        f"| {r['worker_cores'] if r['worker_cores'] is not None else '-'} "
        f"| {r['mean_batch']} | {r['load_before']} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def chart(rows: list[dict[str, Any]], title: str) -> str:
    """Milliseconds against offered turns a second; the 50 ms target as a grey line."""
    width, height, left, right, top, bottom = 640, 300, 50, 170, 30, 40
    box = (left, top, width - left - right, height - top - bottom)
    plot_w, plot_h = box[2], box[3]
    x_max = max(r["offered"] for r in rows)
    y_max = max([TARGET_MS, *(r[key] or 0 for r in rows for key, *_ in LINES)]) * 1.05

    def x(v: float) -> float:
        return left + plot_w * v / x_max

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    ticks = [(top, f"{y_max:.0f}"), (top + plot_h, "0")]
    body = axes(box, height, "offered turns a second (each answered by a reply)", ticks)
    body += [
        f'<line x1="{left}" y1="{y(TARGET_MS):.1f}" x2="{left + plot_w}" y2="{y(TARGET_MS):.1f}" '
        f'stroke="{OTHER}" stroke-dasharray="2 3"/>',
        f'<text x="{left + plot_w + 4}" y="{y(TARGET_MS) + 4:.1f}">50 ms target</text>',
    ]
    for r in rows:
        body.append(
            f'<text x="{x(r["offered"]):.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
            f"{r['offered']:g}</text>"
        )
    for n, (key, label, colour, dashed) in enumerate(LINES):
        points = " ".join(f"{x(r['offered']):.1f},{y(r[key] or 0):.1f}" for r in rows)
        body += series(box, n, points, label, colour, dashed)
    return document(width, height, left, title, body)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--worker", action="store_true", help="send from a separate worker process")
    p.add_argument("--rates", default="10,25,50,75,100", help="offered turns a second")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--svg", type=Path, help="write the chart here")
    args = p.parse_args()
    rows = []
    for rate in (float(r) for r in args.rates.split(",")):
        started = time.strftime("%H:%M:%S")
        row = run_one(args, rate)
        rows.append(row)
        print(f"{started} offered {rate:g}/s: {json.dumps(row)}", file=sys.stderr, flush=True)
    layout = f"{args.database}{' + worker' if args.worker else ''}"
    print(table(rows))
    if args.svg is not None:
        args.svg.write_text(chart(rows, f"Inbound latency against offered load ({layout})"))
        print(f"chart written to {args.svg}")


if __name__ == "__main__":
    main()
