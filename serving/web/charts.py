"""Server-side SVG charts for the planner pages: no JavaScript charting library, no CDN.

Each builder takes plain numbers and returns SVG markup (`markupsafe.Markup`) that a template embeds
as is. Every label is escaped here, so user-controlled text (category names, plan ids) cannot inject
markup. Hover titles (`<title>`) give exact values without any script.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# colours shared with static/style.css (kept in one place per file so charts print the same everywhere)
_INK = "#1f2933"
_MUTED = "#6b7785"
_GRID = "#e3e8ee"
_RISK = "#d64545"
_COUNT = "#9fb3c8"
_POINT = "#2563eb"


@dataclass(frozen=True)
class BarRow:
    """One bar of a risk chart: a group (category or platform), its mean risk and its size."""

    label: str
    value: float  # mean predicted failure probability, 0..1
    count: int


@dataclass(frozen=True)
class IntervalPoint:
    """One estimate with its 95% interval, e.g. a plan's pass rate on a date."""

    label: str  # short x-axis label (a date)
    detail: str  # hover text (plan id, sample size)
    value: float  # 0..1
    low: float  # 0..1
    high: float  # 0..1
    sublabel: str = ""  # second x-axis line (which plan), since several plans can share a date


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def _text_width(s: str, size: float) -> float:
    """Rough rendered width: CJK glyphs are about one em wide, Latin about 0.6 em."""
    return sum(size if ord(c) > 0x2E80 else 0.6 * size for c in s)


def risk_bars(rows: Sequence[BarRow], *, title: str, width: int = 560) -> Markup:
    """Horizontal bars of mean failure probability per group, with the group's listing count beside it.

    Rows are drawn in the order given (callers sort by risk). The risk axis runs 0..max(risk) rounded up
    to the next 10% so small differences stay visible without exaggerating them.
    """
    row_h, top, bottom = 26, 34, 28
    font = 13.0
    label_w = max([_text_width(r.label, font) for r in rows] + [48.0]) + 12
    count_w = 86.0
    plot_x0 = label_w
    value_w = 52.0  # room after the longest bar for its percentage label
    plot_w = max(width - label_w - count_w - value_w - 8, 120)
    height = top + row_h * max(len(rows), 1) + bottom
    vmax = max([r.value for r in rows] + [0.05])
    axis_max = min(1.0, math.ceil(vmax * 10 + 1e-9) / 10)
    cmax = max([r.count for r in rows] + [1])

    parts: list[str] = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{plot_x0:.0f}" y="16" font-size="12" fill="{_MUTED}">平均预测不合格概率</text>',
        f'<text x="{width - 8}" y="16" font-size="12" fill="{_MUTED}" text-anchor="end">商品数</text>',
    ]
    # vertical grid lines every 10% (every 20% when the axis is wide)
    step = 0.1 if axis_max <= 0.5 else 0.2
    ticks = [round(i * step, 2) for i in range(int(round(axis_max / step)) + 1)]
    y_axis_end = top + row_h * max(len(rows), 1)
    for t in ticks:
        x = plot_x0 + plot_w * t / axis_max
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{y_axis_end}" stroke="{_GRID}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{y_axis_end + 16}" font-size="11" fill="{_MUTED}" '
            f'text-anchor="middle">{_pct(t, 0)}</text>'
        )
    if not rows:
        parts.append(
            f'<text x="{plot_x0 + plot_w / 2:.0f}" y="{top + 16}" font-size="13" fill="{_MUTED}" '
            f'text-anchor="middle">暂无数据</text>'
        )
    for i, r in enumerate(rows):
        y = top + i * row_h
        bar_w = plot_w * min(max(r.value, 0.0), axis_max) / axis_max
        cnt_w = (count_w - 40) * r.count / cmax
        label = escape(r.label)
        parts.append(
            f'<g class="bar-row"><title>{label}: 平均不合格概率 {_pct(r.value)}，{r.count:,} 件商品</title>'
            f'<text x="{plot_x0 - 8:.1f}" y="{y + row_h / 2 + 4:.1f}" font-size="{font:.0f}" fill="{_INK}" '
            f'text-anchor="end">{label}</text>'
            f'<rect x="{plot_x0:.1f}" y="{y + 4}" width="{bar_w:.1f}" height="{row_h - 8}" rx="3" '
            f'fill="{_RISK}" fill-opacity="{0.35 + 0.65 * min(r.value / axis_max, 1.0):.2f}"/>'
            f'<text x="{plot_x0 + bar_w + 5:.1f}" y="{y + row_h / 2 + 4:.1f}" font-size="12" '
            f'fill="{_INK}">{_pct(r.value)}</text>'
            f'<rect x="{width - count_w:.1f}" y="{y + 9}" width="{cnt_w:.1f}" height="{row_h - 18}" '
            f'fill="{_COUNT}"/>'
            f'<text x="{width - 8}" y="{y + row_h / 2 + 4:.1f}" font-size="12" fill="{_MUTED}" '
            f'text-anchor="end">{r.count:,}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def interval_chart(
    points: Sequence[IntervalPoint], *, title: str, y_label: str = "合格率", width: int = 1120
) -> Markup:
    """Points with 95% error bars over time (one per estimate, in the order given).

    The y axis is zoomed to the intervals (padded, rounded to 5%) so that narrowing intervals stay
    visible; the axis always states its range, so the zoom cannot mislead.
    """
    height, left, right, top, bottom = 330, 64, 16, 16, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    parts: list[str] = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if points:
        lo = min(p.low for p in points)
        hi = max(p.high for p in points)
    else:
        lo, hi = 0.0, 1.0
    y0 = max(0.0, math.floor((lo - 0.05) * 20) / 20)
    y1 = min(1.0, math.ceil((hi + 0.05) * 20) / 20)
    if y1 - y0 < 0.1:  # keep at least a 10-point window
        y1 = min(1.0, y0 + 0.1)
        y0 = max(0.0, y1 - 0.1)

    def ypos(v: float) -> float:
        return top + plot_h * (1 - (min(max(v, y0), y1) - y0) / (y1 - y0))

    span = y1 - y0
    step = 0.05 if span <= 0.3 else 0.1 if span <= 0.6 else 0.2
    t = math.ceil(y0 / step - 1e-9) * step  # ticks on round multiples of the step
    while t <= y1 + 1e-9:
        y = ypos(t)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{_GRID}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" fill="{_MUTED}" text-anchor="end">'
            f"{_pct(t, 0)}</text>"
        )
        t = round(t + step, 6)
    parts.append(
        f'<text x="14" y="{top + plot_h / 2:.0f}" font-size="12" fill="{_MUTED}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.0f})">{escape(y_label)}（95% 置信区间）</text>'
    )
    if not points:
        parts.append(
            f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h / 2:.0f}" font-size="14" fill="{_MUTED}" '
            f'text-anchor="middle">暂无检测结果：录入结果后这里会显示估计值</text>'
        )
    n = len(points)
    xs = [left + plot_w * (i + 0.5) / n for i in range(n)]
    if n > 1:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x:.1f},{ypos(p.value):.1f}"
            for i, (x, p) in enumerate(zip(xs, points, strict=True))
        )
        parts.append(f'<path d="{path}" fill="none" stroke="{_POINT}" stroke-opacity="0.35" stroke-width="1.5"/>')
    label_every = max(1, math.ceil(n / 12))  # never more than ~12 x labels
    for i, (x, p) in enumerate(zip(xs, points, strict=True)):
        yl, yh, yv = ypos(p.low), ypos(p.high), ypos(p.value)
        tip = f"{p.label} {p.detail}：{_pct(p.value)}（95% 区间 {_pct(p.low)} – {_pct(p.high)}）"
        parts.append(
            f'<g class="estimate"><title>{escape(tip)}</title>'
            f'<line x1="{x:.1f}" y1="{yl:.1f}" x2="{x:.1f}" y2="{yh:.1f}" stroke="{_INK}" stroke-width="1.5"/>'
            f'<line x1="{x - 6:.1f}" y1="{yl:.1f}" x2="{x + 6:.1f}" y2="{yl:.1f}" stroke="{_INK}" stroke-width="1.5"/>'
            f'<line x1="{x - 6:.1f}" y1="{yh:.1f}" x2="{x + 6:.1f}" y2="{yh:.1f}" stroke="{_INK}" stroke-width="1.5"/>'
            f'<circle cx="{x:.1f}" cy="{yv:.1f}" r="5" fill="{_POINT}"/>'
            f'<text x="{x + 9:.1f}" y="{yv + 4:.1f}" font-size="11" fill="{_INK}">{_pct(p.value)}</text>'
        )
        if i % label_every == 0:
            sub = f'<tspan x="{x:.1f}" dy="14">{escape(p.sublabel)}</tspan>' if p.sublabel else ""
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" font-size="11" fill="{_MUTED}" '
                f'text-anchor="middle">{escape(p.label)}{sub}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))
