"""Bar charts as server-side SVG, for the console's statistics page: no script, no `style`
attribute, a `<figure>` with the same numbers as a table.

- `horizontal`, `vertical`: (label, value) `Bar`s -> a chart's markup, text escaped here
- `count`, `size`: numbers and bytes for a person

Design: docs/design/console.md
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

# Drawing units of the viewBox; the SVG scales to its container's width. Horizontal charts are
# narrow so that, in half a laptop screen or on a phone, their text stays near its drawn size;
# a vertical chart is wide (a series of days) and its container scrolls on a small screen.
WIDTH = 640
H_WIDTH = 400
ROW = 26  # horizontal charts: one row per bar
LABEL_WIDTH = 145
VALUE_WIDTH = 75
MAX_LABEL_CHARS = 18
PLOT_HEIGHT = 180  # vertical charts
AXIS_LEFT = 56
AXIS_BOTTOM = 36
TOP = 16
MAX_AXIS_LABELS = 8
# Width of one character of a printed value (font-size 10), to tell whether it fits its bar.
VALUE_CHAR_WIDTH = 5.8

Format = Callable[[int], str]


@dataclass(frozen=True)
class Bar:
    label: str
    value: int


def count(n: int) -> str:
    """1234567 -> '1,234,567'."""
    return f"{n:,}"


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def size(n: int) -> str:
    """Bytes for a person: 1536 -> '1.5 KiB' (binary units, as the docs' limits are)."""
    if abs(n) < 1024:
        return f"{n} B"
    value, unit = float(n), 0
    while abs(value) >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    if abs(value) >= 1024:  # beyond EiB: still a number, never an overflow
        return f"{n:,} B"
    return f"{value:.1f} {_UNITS[unit]}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _clip(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _id(text: str) -> str:
    """A token safe inside an id attribute, from the caller's chart name."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", text) or "chart"


def _length(value: int, top: int, span: int) -> float:
    """`value`'s share of `span`, where `top` fills it; exact for integers of any size."""
    if value <= 0 or top <= 0:
        return 0.0
    return round(span * value / top, 2)


def _table(title: str, bars: Sequence[Bar], fmt: Format, headers: tuple[str, str]) -> str:
    rows = "".join(
        f'<tr><th scope="row">{_e(b.label)}</th><td data-value="{int(b.value)}">'
        f"{_e(fmt(b.value))}</td></tr>"
        for b in bars
    )
    return (
        f'<details class="chart-data"><summary>{_e(title)}: the numbers</summary>'
        f'<table><thead><tr><th scope="col">{_e(headers[0])}</th>'
        f'<th scope="col">{_e(headers[1])}</th></tr></thead><tbody>{rows}</tbody></table>'
        "</details>"
    )


def _summary(bars: Sequence[Bar], fmt: Format) -> str:
    if not bars:
        return "No data."
    top = max(bars, key=lambda b: b.value)
    total = sum(b.value for b in bars)
    return (
        f"{len(bars)} bars; largest {top.label}: {fmt(top.value)}; total {fmt(total)}."
        if len(bars) > 1
        else f"{top.label}: {fmt(top.value)}."
    )


def _figure(name: str, title: str, body: str, bars, fmt, headers, empty: str, table=None) -> Markup:
    if not bars:
        return Markup(
            f'<figure class="chart chart-empty" id="{name}"><figcaption>{_e(title)}'
            f'</figcaption><p class="chart-none">{_e(empty)}</p></figure>'
        )
    return Markup(
        f'<figure class="chart" id="{name}"><figcaption>{_e(title)}</figcaption>'
        f"{body}{_table(title, bars if table is None else table, fmt, headers)}</figure>"
    )


def horizontal(
    name: str,
    title: str,
    bars: Sequence[Bar],
    *,
    fmt: Format = count,
    headers: tuple[str, str] = ("", "value"),
    empty: str = "Nothing in this period.",
    table: Sequence[Bar] | None = None,
) -> Markup:
    """One row per bar, label on the left, value printed after the bar: for categories,
    countries, roles, types and top files, in the order given. `table`, when given, is what the
    table of numbers lists instead of the bars (more rows than are worth drawing)."""
    name = _id(name)
    top = max((b.value for b in bars), default=0)
    plot = H_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = TOP + ROW * len(bars) + 8
    rows = []
    for i, bar in enumerate(bars):
        y = TOP + i * ROW
        length = _length(bar.value, top, plot)
        shown = fmt(bar.value)
        rows.append(
            f'<g class="row"><title>{_e(bar.label)}: {_e(shown)}</title>'
            f'<text class="label" x="{LABEL_WIDTH - 8}" y="{y + ROW / 2 + 4}" '
            f'text-anchor="end">{_e(_clip(bar.label))}</text>'
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 4}" width="{length}" '
            f'height="{ROW - 8}" fill="#3b5b8c" data-label="{_e(bar.label)}" '
            f'data-value="{int(bar.value)}"/>'
            f'<text class="value" x="{LABEL_WIDTH + length + 6}" y="{y + ROW / 2 + 4}">'
            f"{_e(shown)}</text></g>"
        )
    svg = (
        f'<svg class="bars horizontal" viewBox="0 0 {H_WIDTH} {height}" width="100%" '
        f'role="img" aria-labelledby="{name}-t {name}-d" font-size="14" fill="#111">'
        f'<title id="{name}-t">{_e(title)}</title>'
        f'<desc id="{name}-d">{_e(_summary(bars, fmt))}</desc>'
        f'<line class="axis" x1="{LABEL_WIDTH}" y1="{TOP - 4}" x2="{LABEL_WIDTH}" '
        f'y2="{height - 4}" stroke="#666"/>'
        f"{''.join(rows)}</svg>"
    )
    return _figure(name, title, svg, bars, fmt, headers, empty, table)


def vertical(
    name: str,
    title: str,
    bars: Sequence[Bar],
    *,
    fmt: Format = count,
    headers: tuple[str, str] = ("", "value"),
    empty: str = "Nothing in this period.",
) -> Markup:
    """Bars side by side along the x axis, in the order given: for a series over time. Every
    bar is drawn, zeros included (a day without downloads is information); at most
    MAX_AXIS_LABELS labels are printed under them, evenly spaced, first and last included."""
    name = _id(name)
    top = max((b.value for b in bars), default=0)
    plot_width = WIDTH - AXIS_LEFT - 8
    slot = plot_width / max(len(bars), 1)
    gap = min(4.0, slot * 0.2)
    base = TOP + PLOT_HEIGHT
    height = base + AXIS_BOTTOM
    step = max(1, -(-len(bars) // MAX_AXIS_LABELS))
    labelled = set(range(0, len(bars), step)) | {len(bars) - 1}
    if len(bars) > 1 and (len(bars) - 1) % step and (len(bars) - 1) % step < step / 2:
        labelled.discard((len(bars) - 1) // step * step)  # too close to the last label
    parts = []
    for i, bar in enumerate(bars):
        x = round(AXIS_LEFT + i * slot + gap / 2, 2)
        length = _length(bar.value, top, PLOT_HEIGHT)
        shown = fmt(bar.value)
        parts.append(
            f'<rect class="bar" x="{x}" y="{round(base - length, 2)}" '
            f'width="{round(slot - gap, 2)}" height="{length}" fill="#3b5b8c" '
            f'data-label="{_e(bar.label)}" data-value="{int(bar.value)}">'
            f"<title>{_e(bar.label)}: {_e(shown)}</title></rect>"
        )
        centre = round(x + (slot - gap) / 2, 2)
        if bar.value > 0 and len(shown) * VALUE_CHAR_WIDTH <= slot:
            parts.append(
                f'<text class="value" x="{centre}" y="{round(base - length - 4, 2)}" '
                f'text-anchor="middle" font-size="10">{_e(shown)}</text>'
            )
        if i in labelled:
            parts.append(
                f'<text class="label" x="{centre}" y="{base + 16}" text-anchor="middle">'
                f"{_e(_clip(bar.label, 12))}</text>"
            )
    svg = (
        f'<svg class="bars vertical" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-labelledby="{name}-t {name}-d" font-size="12" fill="#111">'
        f'<title id="{name}-t">{_e(title)}</title>'
        f'<desc id="{name}-d">{_e(_summary(bars, fmt))}</desc>'
        f'<text class="axis-label" x="{AXIS_LEFT - 6}" y="{TOP + 4}" text-anchor="end">'
        f"{_e(fmt(top))}</text>"
        f'<text class="axis-label" x="{AXIS_LEFT - 6}" y="{base}" text-anchor="end">0</text>'
        f'<line class="grid" x1="{AXIS_LEFT}" y1="{TOP}" x2="{WIDTH - 8}" y2="{TOP}" '
        f'stroke="#ccc" stroke-dasharray="3 3"/>'
        f'<line class="axis" x1="{AXIS_LEFT}" y1="{base}" x2="{WIDTH - 8}" y2="{base}" '
        f'stroke="#666"/>'
        f"{''.join(parts)}</svg>"
    )
    # Its own scrolling box: on a phone the series scrolls sideways instead of shrinking.
    return _figure(name, title, f'<div class="chart-scroll">{svg}</div>', bars, fmt, headers, empty)
