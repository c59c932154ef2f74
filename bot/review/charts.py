"""Small charts as inline SVG, drawn on the server.

The review page must work offline and without a build step, so no chart library from a CDN: these
functions turn the figures from `feedback.stats` into SVG markup (escaped text, `<title>` tooltips on
every bar and point, `role="img"` with a label for screen readers).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from feedback.stats import Bin, DayStats, SourceCount

W, H = 560, 200
PAD_L, PAD_R, PAD_T, PAD_B = 44, 12, 14, 28
BLUE, RED, ORANGE, GREEN, GREY = "#2f6fb0", "#c0392b", "#d68910", "#1e8449", "#8a8f98"


def _svg(label: str, body: list[str], *, width: int = W, height: int = H) -> Markup:
    head = (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def _axes(y_max: float, *, percent: bool) -> list[str]:
    parts = []
    plot_h = H - PAD_T - PAD_B
    for i in range(5):
        value = y_max * i / 4
        y = H - PAD_B - plot_h * i / 4
        text = f"{value * 100:.0f}%" if percent else f"{value:.0f}" if y_max >= 4 else f"{value:.1f}"
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e5e8"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{text}</text>')
    return parts


def _x_labels(labels: Sequence[str], xs: Sequence[float]) -> list[str]:
    step = max(1, len(labels) // 6)
    return [
        f'<text x="{x:.1f}" y="{H - PAD_B + 16}" text-anchor="middle" class="tick">{escape(lab)}</text>'
        for i, (lab, x) in enumerate(zip(labels, xs, strict=True))
        if i % step == 0 or i == len(labels) - 1
    ]


def bar_chart(label: str, labels: Sequence[str], values: Sequence[float], *, color: str = BLUE) -> Markup:
    """Vertical bars, one per label (e.g. answers per day); the axis shows at least 0..4."""
    y_max = max([4.0, *values])
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    n = max(1, len(values))
    slot = plot_w / n
    body = _axes(y_max, percent=False)
    xs = []
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * v / y_max
        x = PAD_L + i * slot
        xs.append(x + slot / 2)
        shown = f"{v:g}"
        body.append(
            f'<rect class="bar" x="{x + slot * 0.12:.1f}" y="{H - PAD_B - h:.1f}" width="{slot * 0.76:.1f}" '
            f'height="{h:.1f}" fill="{color}"><title>{escape(lab)}: {shown}</title></rect>'
        )
    body += _x_labels(labels, xs)
    return _svg(label, body)


def line_chart(
    label: str, labels: Sequence[str], series: dict[str, tuple[Sequence[float | None], str]]
) -> Markup:
    """Rates over time, one line per series, with a legend; values are fractions shown as %.

    A None value (a day without answers has no rate) breaks the line instead of drawing a false 0%.
    """
    all_values = [v for values, _ in series.values() for v in values if v is not None]
    y_max = min(1.0, max([0.05, *all_values]) * 1.15)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    slot = plot_w / max(1, len(labels))
    xs = [PAD_L + slot * (i + 0.5) for i in range(len(labels))]
    body = _axes(y_max, percent=True)
    for k, (name, (values, color)) in enumerate(series.items()):
        runs: list[list[tuple[float, float]]] = [[]]
        for x, lab, v in zip(xs, labels, values, strict=True):
            if v is None:
                runs.append([])
                continue
            y = H - PAD_B - plot_h * min(v, y_max) / y_max
            runs[-1].append((x, y))
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(name)} {escape(lab)}: {v * 100:.1f}%</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                body.append(f'<polyline class="series" points="{path}" fill="none" stroke="{color}" '
                            f'stroke-width="2"/>')  # fmt: skip
        lx = PAD_L + 8 + k * 150
        body.append(f'<rect x="{lx}" y="{PAD_T - 10}" width="10" height="10" fill="{color}"/>')
        body.append(f'<text x="{lx + 14}" y="{PAD_T - 1}" class="legend">{escape(name)}</text>')
    body += _x_labels(labels, xs)
    return _svg(label, body)


def histogram(label: str, bins: Sequence[Bin], *, threshold: float | None = None) -> Markup:
    """Groundedness distribution; bins below the flag threshold are drawn red."""
    labels = [f"{b.low:.1f}" for b in bins]
    y_max = max(4.0, *(b.count for b in bins)) if bins else 4.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    slot = plot_w / max(1, len(bins))
    body = _axes(y_max, percent=False)
    xs = []
    for i, b in enumerate(bins):
        h = plot_h * b.count / y_max
        x = PAD_L + i * slot
        xs.append(x + slot / 2)
        color = RED if threshold is not None and b.high <= threshold else GREEN
        body.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{H - PAD_B - h:.1f}" width="{slot - 2:.1f}" height="{h:.1f}" '
            f'fill="{color}"><title>{b.low:.1f}–{b.high:.1f}: {b.count}</title></rect>'
        )
    body += _x_labels(labels, xs)
    return _svg(label, body)


def source_bars(label: str, sources: Sequence[SourceCount]) -> Markup:
    """Horizontal bars: the documents most often cited in flagged answers."""
    row = 22
    height = max(60, PAD_T + row * len(sources) + 10)
    top = max([s.flags for s in sources] + [1])
    left, plot_w = 230, W - 230 - 40
    body: list[str] = []
    if not sources:
        body.append(
            f'<text x="{W / 2}" y="{height / 2}" text-anchor="middle" class="tick">no flags yet</text>'
        )
    for i, s in enumerate(sources):
        y = PAD_T + i * row
        w = plot_w * s.flags / top
        name = s.title if len(s.title) <= 34 else s.title[:33] + "…"
        body.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" class="tick">{escape(name)}</text>')
        body.append(
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{ORANGE}">'
            f"<title>{escape(s.doc_id)}: {s.flags} flag(s)</title></rect>"
        )
        body.append(f'<text x="{left + w + 5:.1f}" y="{y + 14}" class="tick">{s.flags}</text>')
    return _svg(label, body, height=height)


def daily_charts(days: Sequence[DayStats]) -> dict[str, Markup]:
    labels = [d.day.strftime("%d %b") for d in days]
    return {
        "answers": bar_chart("Answers per day", labels, [d.answers for d in days]),
        "rates": line_chart(
            "Thumbs-down and flag rate per day",
            labels,
            {
                "thumbs-down rate": ([d.thumbs_down_rate if d.answers else None for d in days], RED),
                "flag rate": ([d.flag_rate if d.answers else None for d in days], ORANGE),
            },
        ),
    }
