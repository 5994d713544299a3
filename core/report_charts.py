"""Small inline-SVG charts for the HTML report (no plotting library needed)."""
from __future__ import annotations

import html
import math
from typing import Mapping, Sequence

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 50
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high == low:
        low, high = low - (abs(low) or 1) * 0.5, high + (abs(high) or 1) * 0.5
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = [round(start, 12)]
    while ticks[-1] < high and len(ticks) < 50:  # the last tick is at or above the highest value
        ticks.append(round(start + step * len(ticks), 12))
    return ticks


def _label(value: float) -> str:
    return f"{value:.4g}"


class _Frame:
    """Maps data coordinates into the plot area and draws the axes."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float]):
        self.xt = nice_ticks(min(xs), max(xs))
        self.yt = nice_ticks(min(ys), max(ys))
        self.x0, self.x1 = self.xt[0], self.xt[-1] if self.xt[-1] != self.xt[0] else self.xt[0] + 1
        self.y0, self.y1 = self.yt[0], self.yt[-1] if self.yt[-1] != self.yt[0] else self.yt[0] + 1

    def x(self, v: float) -> float:
        return LEFT + (v - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def y(self, v: float) -> float:
        return HEIGHT - BOTTOM - (v - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)

    def axes(self, x_label: str, y_label: str) -> str:
        e = html.escape
        out = [f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
               f'fill="none" stroke="#999"/>']
        for t in self.xt:
            out.append(f'<text x="{self.x(t):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{_label(t)}</text>')
        for t in self.yt:
            out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{self.y(t):.1f}" y2="{self.y(t):.1f}" stroke="#eee"/>'
                       f'<text x="{LEFT - 6}" y="{self.y(t) + 4:.1f}" text-anchor="end">{_label(t)}</text>')
        out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 12}" text-anchor="middle">{e(x_label)}</text>')
        out.append(f'<text transform="translate(16 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" '
                   f'text-anchor="middle">{e(y_label)}</text>')
        return "".join(out)


def _svg(chart_id: str, body: str, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" id="{html.escape(chart_id)}" class="chart" '
            f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-size="11" role="img">'
            f"<title>{html.escape(title)}</title>{body}</svg>")


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, x_label: str, y_label: str,
               chart_id: str = "chart") -> str:
    """One polyline per series, with a legend; points carry a tooltip."""
    points = [p for values in series.values() for p in values]
    if not points:
        return _svg(chart_id, "", "no data")
    frame = _Frame([p[0] for p in points], [p[1] for p in points])
    body = [frame.axes(x_label, y_label)]
    for i, (name, values) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in values)
        body.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/>')
        for x, y in values if len(values) <= 60 else ():
            body.append(f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2" fill="{color}">'
                        f"<title>{html.escape(name)} at {_label(x)}: {_label(y)}</title></circle>")
        body.append(f'<text x="{WIDTH - RIGHT - 8}" y="{TOP + 14 + 14 * i}" text-anchor="end" '
                    f'fill="{color}">{html.escape(name)}</text>')
    return _svg(chart_id, "".join(body), f"{y_label} by {x_label}")


def scatter_chart(points: Sequence[tuple[float, float, str]], *, x_label: str, y_label: str,
                  chart_id: str = "scatter") -> str:
    """Dots with tooltips (e.g. the Pareto front of a search)."""
    if not points:
        return _svg(chart_id, "", "no data")
    frame = _Frame([p[0] for p in points], [p[1] for p in points])
    body = [frame.axes(x_label, y_label)]
    for x, y, title in points:
        body.append(f'<circle class="point" cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="4" fill="{COLORS[0]}">'
                    f"<title>{html.escape(title)}: {_label(x)}, {_label(y)}</title></circle>")
    return _svg(chart_id, "".join(body), f"{y_label} against {x_label}")
