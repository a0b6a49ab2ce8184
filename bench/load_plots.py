"""SVG charts of a load run, written by hand as bench/history.py does (no plotting library).

``load-<connections>-latency.svg``: the SEND->MESSAGE latency of every delivered copy as a
histogram on a log time axis (ten bins a decade) with its cumulative share and the p50, p99
and p99.9 marks. ``load-<connections>-throughput.svg``: messages sent and delivered per
second over the run, the end of the send phase marked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.load import Report

WIDTH, HEIGHT = 680, 380
LEFT, RIGHT, TOP, BOTTOM = 70, 70, 44, 56
BLUE, ORANGE, GREY = "#1f5fbf", "#d2461e", "#444"


def _open(title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="24" font-size="14">{title}</text>',
    ]


def _frame(parts: list[str], x_label: str, y_label: str) -> None:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="{GREY}"/>'
    )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 12}" text-anchor="middle">{x_label}</text>'
    )
    parts.append(
        f'<text transform="translate(18 {TOP + plot_h / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{y_label}</text>'
    )


def _nice_step(top: float) -> float:
    """A 1/2/5 step giving about five grid lines up to ``top``."""
    raw = max(top, 1e-9) / 5
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def latency_svg(latencies_ms: Sequence[float], marks: dict[str, float], title: str) -> str:
    values = [max(v, 0.01) for v in latencies_ms] or [1.0]
    low = math.floor(math.log10(min(values)))
    high = max(math.ceil(math.log10(max(values))), low + 1)
    bins = 10 * (high - low)
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((math.log10(v) - low) * 10))] += 1
    total = len(values)
    shares = [100 * c / total for c in counts]
    top_share = _nice_step(max(shares)) * math.ceil(max(shares) / _nice_step(max(shares)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ms: float) -> float:
        return LEFT + plot_w * (math.log10(ms) - low) / (high - low)

    def y(share: float, scale: float) -> float:
        return TOP + plot_h * (1 - share / scale)

    parts = _open(title)
    step = _nice_step(top_share)
    tick = 0.0
    while tick <= top_share + 1e-9:
        parts.append(
            f'<line x1="{LEFT}" y1="{y(tick, top_share):.1f}" x2="{LEFT + plot_w}" '
            f'y2="{y(tick, top_share):.1f}" stroke="#eee"/>'
            f'<text x="{LEFT - 6}" y="{y(tick, top_share) + 4:.1f}" text-anchor="end">'
            f"{tick:g}%</text>"
        )
        tick += step
    for cum in (0, 50, 100):
        parts.append(
            f'<text x="{LEFT + plot_w + 6}" y="{y(cum, 100) + 4:.1f}" fill="{ORANGE}">{cum}%</text>'
        )
    for exp in range(low, high + 1):
        parts.append(
            f'<text x="{x(10.0**exp):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
            f"{10.0**exp:g} ms</text>"
        )
    bar_w = plot_w / bins
    for i, share in enumerate(shares):
        if share:
            top = y(share, top_share)
            parts.append(
                f'<rect x="{LEFT + i * bar_w + 1:.1f}" y="{top:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{TOP + plot_h - top:.1f}" fill="{BLUE}" fill-opacity="0.75"/>'
            )
    running, points = 0, []
    for i, count in enumerate(counts):
        running += count
        points.append(f"{LEFT + (i + 1) * bar_w:.1f},{y(100 * running / total, 100):.1f}")
    parts.append(
        f'<polyline points="{LEFT},{y(0, 100):.1f} {" ".join(points)}" fill="none" '
        f'stroke="{ORANGE}" stroke-width="2"/>'
    )
    for n, (name, ms) in enumerate(marks.items()):
        mx = x(max(ms, 0.01))
        parts.append(
            f'<line x1="{mx:.1f}" y1="{TOP}" x2="{mx:.1f}" y2="{TOP + plot_h}" stroke="{GREY}" '
            'stroke-dasharray="4 3"/>'
            f'<text x="{mx + 4:.1f}" y="{TOP + 14 + 14 * n}" fill="{GREY}">{name} '
            f"{ms:,.0f} ms</text>"
        )
    _frame(parts, "SEND to MESSAGE latency (log scale)", "share of delivered copies")
    parts.append(
        f'<text x="{WIDTH - 8}" y="{TOP - 8}" text-anchor="end" fill="{ORANGE}">cumulative</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def throughput_svg(series: dict[str, list[int]], send_phase_s: float, title: str) -> str:
    seconds = max(len(v) for v in series.values()) or 1
    peak = max((max(v) for v in series.values() if v), default=1) or 1
    step = _nice_step(peak)
    top = step * math.ceil(peak / step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(second: float) -> float:
        return LEFT + plot_w * second / seconds

    def y(rate: float) -> float:
        return TOP + plot_h * (1 - rate / top)

    parts = _open(title)
    tick = 0.0
    while tick <= top + 1e-9:
        parts.append(
            f'<line x1="{LEFT}" y1="{y(tick):.1f}" x2="{LEFT + plot_w}" y2="{y(tick):.1f}" '
            f'stroke="#eee"/><text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{tick:,.0f}</text>"
        )
        tick += step
    x_step = _nice_step(seconds)
    second = 0.0
    while second <= seconds:
        parts.append(
            f'<text x="{x(second):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
            f"{second:g}</text>"
        )
        second += x_step
    end = x(send_phase_s)
    parts.append(
        f'<line x1="{end:.1f}" y1="{TOP}" x2="{end:.1f}" y2="{TOP + plot_h}" stroke="{GREY}" '
        f'stroke-dasharray="4 3"/><text x="{end - 4:.1f}" y="{TOP + 14}" text-anchor="end" '
        f'fill="{GREY}">sends stop</text>'
    )
    for n, (name, colour) in enumerate((("delivered", BLUE), ("sent", ORANGE))):
        values = series.get(name, [])
        points = " ".join(f"{x(i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{LEFT + plot_w + 6}" y="{TOP + 14 + 16 * n}" fill="{colour}">{name}</text>'
        )
    _frame(parts, "seconds since the first SEND", "messages per second")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_plots(report: Report, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    n = report.config.connections
    lat = report.latency_ms
    marks: dict[str, float] = {k: lat[k] for k in ("p50", "p99", "p99.9") if k in lat}
    latency = folder / f"load-{n}-latency.svg"
    latency.write_text(
        latency_svg(report.latencies_ms, marks, f"{n} connections: SEND to MESSAGE latency")
    )
    throughput = folder / f"load-{n}-throughput.svg"
    throughput.write_text(
        throughput_svg(
            report.series, report.config.duration, f"{n} connections: messages per second"
        )
    )
    return [latency, throughput]
