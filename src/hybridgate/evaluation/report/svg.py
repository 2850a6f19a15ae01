"""Inline SVG plots for the scorecard: quality-vs-cost scatter with a Pareto frontier, latency box/strip
plots, horizontal bar charts. No dependencies; every plot has ``<title>``/``<desc>``, axis labels, and
each data mark a ``<title>`` tooltip and ``data-*`` attributes (tests and screen readers read them).

Marks are told apart by shape as well as colour (colour-blind safe palette): circle = in-house,
square = partner, diamond = mix, dashed line = offline output file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from types import MappingProxyType
from typing import Any

__all__ = ["COLORS", "Point", "bars", "boxplot", "nice_ticks", "pareto_front", "scatter"]

COLORS = MappingProxyType({"in-house": "#0072B2", "partner": "#D55E00", "mix": "#009E73", "file": "#666666",
          "before": "#56B4E9", "after": "#CC79A7", "limit": "#000000", "all requests": "#D55E00",
          "with detected PII": "#E69F00"})
W, H = 640, 380
ML, MR, MT, MB = 72, 24, 40, 70


@dataclass(slots=True)
class Point:
    name: str
    x: float
    y: float
    kind: str  # in-house | partner | mix
    low: float | None = None
    high: float | None = None
    chosen: bool = False


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000 or a < 0.001:
        return f"{v:.2g}"
    if a >= 10:
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
    return f"{v:.3g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = [round(start, 12)]
    while ticks[-1] < hi - step * 1e-9:
        ticks.append(round(start + len(ticks) * step, 12))
    return ticks


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """Points no other point beats on both cost (lower) and quality (higher), by increasing cost."""
    best: list[Point] = []
    for p in sorted(points, key=lambda p: (p.x, -p.y)):
        if not best or p.y > best[-1].y:
            best.append(p)
    return best


def _open(uid: str, title: str, desc: str, height: int = H) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" id="{uid}" viewBox="0 0 {W} {height}" '
            f'width="{W}" height="{height}" role="img" aria-labelledby="{uid}-title {uid}-desc">',
            f'<title id="{uid}-title">{escape(title)}</title>', f'<desc id="{uid}-desc">{escape(desc)}</desc>',
            f'<text x="{W / 2}" y="20" text-anchor="middle" class="ptitle">{escape(title)}</text>']


def _axes(xs: list[float], ys: list[float], sx: Any, sy: Any, xlabel: str, ylabel: str, height: int,
          xfmt: Any = _fmt) -> list[str]:
    out = [f'<g class="axes"><line x1="{ML}" y1="{height - MB}" x2="{W - MR}" y2="{height - MB}" stroke="#333"/>',
           f'<line x1="{ML}" y1="{MT}" x2="{ML}" y2="{height - MB}" stroke="#333"/>']
    for t in xs:
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{height - MB}" x2="{x:.1f}" y2="{height - MB + 5}" stroke="#333"/>'
                   f'<text x="{x:.1f}" y="{height - MB + 18}" text-anchor="middle">{escape(xfmt(t))}</text>')
    for t in ys:
        y = sy(t)
        out.append(f'<line x1="{ML - 5}" y1="{y:.1f}" x2="{W - MR}" y2="{y:.1f}" stroke="#e4e4e4"/>'
                   f'<text x="{ML - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt(t))}</text>')
    out.append(f'<text x="{(ML + W - MR) / 2}" y="{height - MB + 36}" text-anchor="middle" class="alabel">'
               f'{escape(xlabel)}</text>')
    if ylabel:
        out.append(f'<text transform="translate(16 {(MT + height - MB) / 2}) rotate(-90)" text-anchor="middle" '
                   f'class="alabel">{escape(ylabel)}</text>')
    out.append("</g>")
    return out


def _marker(kind: str, x: float, y: float, r: float = 6.0) -> str:
    color = COLORS.get(kind, "#333")
    if kind == "partner":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" fill="{color}"/>'
    if kind == "mix":
        pts = f"{x:.1f},{y - r - 1:.1f} {x + r + 1:.1f},{y:.1f} {x:.1f},{y + r + 1:.1f} {x - r - 1:.1f},{y:.1f}"
        return f'<polygon points="{pts}" fill="{color}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}"/>'


def scatter(uid: str, points: Sequence[Point], *, title: str, desc: str, xlabel: str, ylabel: str,
            floor: float | None = None, budget: float | None = None,
            references: Sequence[tuple[str, float]] = ()) -> str:
    """Quality (y) against cost (x), CI whiskers, the Pareto frontier as a step line, floor/budget lines."""
    ys = [p.y for p in points] + [v for p in points for v in (p.low, p.high) if v is not None]
    ys += [v for _, v in references] + ([floor] if floor is not None else [])
    xs = [p.x for p in points] + ([budget] if budget is not None else [])
    ylo, yhi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    pad = (yhi - ylo) * 0.1 or max(abs(yhi) * 0.1, 0.05)
    top = min(yhi + pad, 1.0) if 0.0 <= ylo and yhi <= 1.0 else yhi + pad  # shares and AUPRC end at 1
    yt = nice_ticks(max(ylo - pad, 0.0) if ylo >= 0 else ylo - pad, top)
    xhi = max(xs) if xs and max(xs) > 0 else 1.0
    xt = nice_ticks(0.0, xhi * 1.08)
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    sx = lambda v: ML + 14 + (v - x0) / ((x1 - x0) or 1) * (W - ML - MR - 14)  # noqa: E731
    sy = lambda v: H - MB - (v - y0) / ((y1 - y0) or 1) * (H - MT - MB)  # noqa: E731
    out = _open(uid, title, desc) + _axes(xt, yt, sx, sy, xlabel, ylabel, H)
    if floor is not None:
        out.append(f'<g class="floor"><line x1="{ML}" y1="{sy(floor):.1f}" x2="{W - MR}" y2="{sy(floor):.1f}" '
                   f'stroke="{COLORS["limit"]}" stroke-dasharray="6 4"/><text x="{W - MR - 4}" '
                   f'y="{sy(floor) - 5:.1f}" text-anchor="end">quality floor {escape(_fmt(floor))}</text></g>')
    if budget is not None:
        out.append(f'<g class="budget"><line x1="{sx(budget):.1f}" y1="{MT}" x2="{sx(budget):.1f}" y2="{H - MB}" '
                   f'stroke="{COLORS["limit"]}" stroke-dasharray="2 4"/><text x="{sx(budget) - 4:.1f}" y="{MT + 12}" '
                   f'text-anchor="end">budget ${escape(_fmt(budget))}/1k</text></g>')
    for name, v in references:
        out.append(f'<g class="reference" data-name="{escape(name)}" data-y="{v}"><line x1="{ML}" y1="{sy(v):.1f}" '
                   f'x2="{W - MR}" y2="{sy(v):.1f}" stroke="{COLORS["file"]}" stroke-dasharray="1 3"/>'
                   f'<text x="{ML + 4}" y="{sy(v) - 4:.1f}" fill="{COLORS["file"]}">{escape(name)} (offline, '
                   f'no cost) {escape(_fmt(v))}</text><title>{escape(name)}: {escape(_fmt(v))}</title></g>')
    front = pareto_front(points)
    if front:
        path = [f"M{sx(front[0].x):.1f},{sy(front[0].y):.1f}"]
        for a, b in zip(front, front[1:]):
            path.append(f"H{sx(b.x):.1f}V{sy(b.y):.1f}")
        out.append(f'<path class="pareto" d="{"".join(path)}" fill="none" stroke="{COLORS["mix"]}" '
                   f'stroke-width="2" stroke-opacity="0.6" data-points="{escape(";".join(p.name for p in front))}">'
                   f'<title>Pareto frontier: {escape(", ".join(p.name for p in front))}</title></path>')
    on_front = {id(p) for p in front}
    for i, p in enumerate(points):
        x, y = sx(p.x), sy(p.y)
        parts = [f'<g class="point{" chosen" if p.chosen else ""}" data-name="{escape(p.name)}" data-x="{p.x}" '
                 f'data-y="{p.y}" data-kind="{p.kind}" data-pareto="{str(id(p) in on_front).lower()}">']
        if p.low is not None and p.high is not None:
            parts.append(f'<line x1="{x:.1f}" y1="{sy(p.low):.1f}" x2="{x:.1f}" y2="{sy(p.high):.1f}" '
                         f'stroke="{COLORS.get(p.kind, "#333")}" stroke-width="1.5"/>')
        parts.append(_marker(p.kind, x, y))
        if p.chosen:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="11" fill="none" stroke="#000" stroke-width="2"/>')
        ci = f", 95% CI {_fmt(p.low)}–{_fmt(p.high)}" if p.low is not None and p.high is not None else ""
        parts.append(f'<text x="{x + 9:.1f}" y="{y - 8 - (i % 2) * 10:.1f}" class="plabel">{escape(p.name)}</text>')
        parts.append(f"<title>{escape(p.name)}: quality {_fmt(p.y)}{ci}, ${_fmt(p.x)} per 1k requests</title></g>")
        out.append("".join(parts))
    out.append(_legend(["in-house", "partner", "mix"]))
    out.append("</svg>")
    return "\n".join(out)


def _legend(kinds: Sequence[str], x: float = ML + 8, y: float = H - 8) -> str:
    items = []
    for i, k in enumerate(kinds):
        cx = x + i * 110
        items.append(_marker(k, cx, y - 4, 5) + f'<text x="{cx + 10}" y="{y}">{escape(k)}</text>')
    return f'<g class="legend" aria-hidden="true">{"".join(items)}</g>'


def boxplot(uid: str, groups: Sequence[tuple[str, str, Sequence[float]]], *, title: str, desc: str,
            xlabel: str) -> str:
    """Horizontal box (quartiles, whiskers at min/max) + strip of every sample per group, log scale."""
    rows = [(n, k, sorted(v)) for n, k, v in groups if v]
    height = MT + MB + max(1, len(rows)) * 44
    allv = [x for _, _, v in rows for x in v if x > 0] or [1.0]
    lo = 10 ** math.floor(math.log10(min(allv)))
    hi = 10 ** math.ceil(math.log10(max(allv)))
    hi = hi * 10 if hi <= lo else hi
    ticks = [10 ** e for e in range(round(math.log10(lo)), round(math.log10(hi)) + 1)]
    left = ML + 90
    sx = lambda v: left + (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) \
        * (W - left - MR)  # noqa: E731
    out = _open(uid, title, desc, height)
    out.append(f'<g class="axes"><line x1="{left}" y1="{height - MB}" x2="{W - MR}" y2="{height - MB}" stroke="#333"/>')
    for t in ticks:
        out.append(f'<line x1="{sx(t):.1f}" y1="{MT}" x2="{sx(t):.1f}" y2="{height - MB + 5}" stroke="#e4e4e4"/>'
                   f'<text x="{sx(t):.1f}" y="{height - MB + 18}" text-anchor="middle">{escape(_fmt(t))}</text>')
    out.append(f'<text x="{(left + W - MR) / 2}" y="{height - MB + 36}" text-anchor="middle" class="alabel">'
               f'{escape(xlabel)}</text></g>')
    for r, (name, kind, v) in enumerate(rows):
        cy = MT + 22 + r * 44
        q1, med, q3 = _quartiles(v)
        color = COLORS.get(kind, "#333")
        g = [f'<g class="box" data-name="{escape(name)}" data-n="{len(v)}" data-median="{med:.3f}">',
             f'<text x="{left - 8}" y="{cy + 4}" text-anchor="end">{escape(name)}</text>',
             f'<line x1="{sx(v[0]):.1f}" y1="{cy}" x2="{sx(v[-1]):.1f}" y2="{cy}" stroke="{color}"/>',
             f'<rect x="{sx(q1):.1f}" y="{cy - 10}" width="{max(1.0, sx(q3) - sx(q1)):.1f}" height="20" '
             f'fill="{color}" fill-opacity="0.25" stroke="{color}"/>',
             f'<line x1="{sx(med):.1f}" y1="{cy - 10}" x2="{sx(med):.1f}" y2="{cy + 10}" stroke="#000" '
             'stroke-width="2"/>']
        step = max(1, len(v) // 200)
        for j, x in enumerate(v[::step]):
            jitter = ((j * 37) % 13 - 6) * 1.2
            g.append(f'<circle class="sample" cx="{sx(x):.1f}" cy="{cy + jitter:.1f}" r="1.6" fill="{color}" '
                     f'fill-opacity="0.55"/>')
        g.append(f"<title>{escape(name)}: median {_fmt(med)} ms, quartiles {_fmt(q1)}–{_fmt(q3)} ms, "
                 f"range {_fmt(v[0])}–{_fmt(v[-1])} ms, n={len(v)}</title></g>")
        out.append("".join(g))
    out.append("</svg>")
    return "\n".join(out)


def _quartiles(v: Sequence[float]) -> tuple[float, float, float]:
    def q(p: float) -> float:
        pos = p * (len(v) - 1)
        i = int(math.floor(pos))
        return v[i] if i + 1 >= len(v) else v[i] + (v[i + 1] - v[i]) * (pos - i)

    return q(0.25), q(0.5), q(0.75)


def bars(uid: str, rows: Sequence[tuple[str, Sequence[tuple[str, float | None]]]], *, title: str, desc: str,
         xlabel: str, xmax: float | None = None, limits: Sequence[tuple[str, float]] = (),
         percent: bool = False) -> str:
    """Horizontal grouped bars: each row a label and (series, value) pairs; optional vertical limit lines."""
    series_n = max((len(s) for _, s in rows), default=1)
    row_h = 14 * series_n + 16
    height = MT + MB + max(1, len(rows)) * row_h
    vals = [v for _, s in rows for _, v in s if v is not None] + [v for _, v in limits]
    top = xmax if xmax is not None else (max(vals) if vals and max(vals) > 0 else 1.0)
    ticks = nice_ticks(0.0, top)
    left = ML + 150
    sx = lambda v: left + v / (ticks[-1] or 1) * (W - left - MR)  # noqa: E731
    fmt = (lambda v: f"{v:.0%}") if percent else _fmt
    out = _open(uid, title, desc, height)
    out.append(f'<g class="axes"><line x1="{left}" y1="{height - MB}" x2="{W - MR}" y2="{height - MB}" stroke="#333"/>')
    for t in ticks:
        out.append(f'<line x1="{sx(t):.1f}" y1="{MT}" x2="{sx(t):.1f}" y2="{height - MB + 5}" stroke="#e4e4e4"/>'
                   f'<text x="{sx(t):.1f}" y="{height - MB + 18}" text-anchor="middle">{escape(fmt(t))}</text>')
    out.append(f'<text x="{(left + W - MR) / 2}" y="{height - MB + 36}" text-anchor="middle" class="alabel">'
               f'{escape(xlabel)}</text></g>')
    for r, (label, series) in enumerate(rows):
        y = MT + 8 + r * row_h
        out.append(f'<text x="{left - 8}" y="{y + 7 * len(series) + 4}" text-anchor="end">{escape(label)}</text>')
        for j, (sname, v) in enumerate(series):
            color = COLORS.get(sname, COLORS["mix"])
            shown = "n/a" if v is None else fmt(v)
            width = 0.0 if v is None else max(1.0, sx(v) - left) if v > 0 else 1.0
            inside = width > W - left - MR - 40  # no room right of the bar: write the value inside it
            tx = (f'x="{left + width - 4:.1f}" text-anchor="end" fill="#fff"' if inside
                  else f'x="{left + width + 4:.1f}"')
            out.append(f'<g class="bar" data-label="{escape(label)}" data-series="{escape(sname)}" '
                       f'data-value="{"" if v is None else v}"><rect x="{left}" y="{y + j * 14}" width="{width:.1f}" '
                       f'height="12" fill="{color}"/><text {tx} y="{y + j * 14 + 10}">'
                       f'{escape(shown)}</text><title>{escape(label)} ({escape(sname)}): {escape(shown)}</title></g>')
    for name, v in limits:
        out.append(f'<g class="limit"><line x1="{sx(v):.1f}" y1="{MT - 4}" x2="{sx(v):.1f}" y2="{height - MB}" '
                   f'stroke="{COLORS["limit"]}" stroke-dasharray="6 4"/><text x="{sx(v) + 3:.1f}" y="{MT - 6}">'
                   f'{escape(name)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)
