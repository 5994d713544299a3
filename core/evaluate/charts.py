"""Small inline-SVG charts for the HTML report (no plotting library needed)."""
from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 50
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart).

    ``integer``: the axis counts things (steps, trials), so ticks are whole
    numbers at least 1 apart.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high == low:
        low, high = low - (abs(low) or 1) * 0.5, high + (abs(high) or 1) * 0.5
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1, round(step))
    start = math.floor(low / step) * step
    ticks = [round(start, 12)]
    while ticks[-1] < high and len(ticks) < 50:  # the last tick is at or above the highest value
        ticks.append(round(start + step * len(ticks), 12))
    return ticks


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Labels for ``ticks``, with as many digits as it takes to tell them apart.

    Four significant digits print 1024.5 as "1024" and 1025.5 as "1026": an
    axis reading 1024, 1024, 1025, 1026, 1026. More digits are used until
    every label differs.
    """
    for digits in range(4, 16):
        labels = [_label(t, digits) for t in ticks]
        if len(set(labels)) == len(labels):
            return labels
    return [repr(t) for t in ticks]


def _label(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


class _Frame:
    """Maps data coordinates into the plot area and draws the axes."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], integer_x: bool = False):
        self.xt = nice_ticks(min(xs), max(xs), integer=integer_x)
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
        for t, text in zip(self.xt, tick_labels(self.xt), strict=True):
            out.append(f'<text class="xtick" x="{self.x(t):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                       f'text-anchor="middle">{text}</text>')
        for t, text in zip(self.yt, tick_labels(self.yt), strict=True):
            out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{self.y(t):.1f}" y2="{self.y(t):.1f}" stroke="#eee"/>'
                       f'<text class="ytick" x="{LEFT - 6}" y="{self.y(t) + 4:.1f}" text-anchor="end">{text}</text>')
        out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 12}" text-anchor="middle">{e(x_label)}</text>')
        out.append(f'<text transform="translate(16 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" '
                   f'text-anchor="middle">{e(y_label)}</text>')
        return "".join(out)


def _svg(chart_id: str, body: str, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" id="{html.escape(chart_id)}" class="chart" '
            f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-size="11" role="img">'
            f"<title>{html.escape(title)}</title>{body}</svg>")


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, x_label: str, y_label: str,
               chart_id: str = "chart", integer_x: bool = False) -> str:
    """One polyline per series, with a legend; points carry a tooltip.

    A series of one point is no line: it is drawn as a marker, and its
    legend entry says "one point".
    """
    points = [p for values in series.values() for p in values]
    if not points:
        return _svg(chart_id, "", "no data")
    frame = _Frame([p[0] for p in points], [p[1] for p in points], integer_x)
    body = [frame.axes(x_label, y_label)]
    for i, (name, values) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        if len(values) > 1:
            coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in values)
            body.append(f'<polyline class="series" fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/>')
        for x, y in values if len(values) <= 60 else ():
            kind, radius = ("marker", 4) if len(values) == 1 else ("dot", 2)
            body.append(f'<circle class="{kind}" cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="{radius}" '
                        f'fill="{color}"><title>{html.escape(name)} at {_label(x)}: {_label(y)}</title></circle>')
        legend = name + (" (one point)" if len(values) == 1 else "")
        body.append(f'<text x="{WIDTH - RIGHT - 8}" y="{TOP + 14 + 14 * i}" text-anchor="end" '
                    f'fill="{color}">{html.escape(legend)}</text>')
    return _svg(chart_id, "".join(body), f"{y_label} by {x_label}")


def scatter_chart(points: Sequence[tuple[float, float, str, bool]], *, x_label: str, y_label: str,
                  chart_id: str = "scatter", integer_x: bool = False) -> str:
    """Trials as dots with tooltips: ``(x, y, title, on the front)``.

    Front points are filled and joined in x order; dominated ones are hollow
    grey circles, so the chart shows what the front was chosen from.
    """
    if not points:
        return _svg(chart_id, "", "no data")
    frame = _Frame([p[0] for p in points], [p[1] for p in points], integer_x)
    body = [frame.axes(x_label, y_label)]
    front = sorted((x, y) for x, y, _, on_front in points if on_front)
    if len(front) > 1:
        coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in front)
        body.append(f'<polyline class="front" fill="none" stroke="{COLORS[0]}" stroke-dasharray="4 3" '
                    f'points="{coords}"/>')
    for x, y, title, on_front in sorted(points, key=lambda p: p[3]):  # front drawn last, on top
        style = f'class="point" r="4" fill="{COLORS[0]}"' if on_front else \
            'class="dominated" r="3.5" fill="none" stroke="#999"'
        body.append(f'<circle {style} cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}">'
                    f"<title>{html.escape(title)}: {_label(x)}, {_label(y)}</title></circle>")
    body.append(f'<text x="{WIDTH - RIGHT - 8}" y="{TOP + 14}" text-anchor="end" fill="{COLORS[0]}">'
                f'&#9679; Pareto front</text><text x="{WIDTH - RIGHT - 8}" y="{TOP + 28}" text-anchor="end" '
                f'fill="#777">&#9675; dominated</text>')
    return _svg(chart_id, "".join(body), f"{y_label} against {x_label}")
