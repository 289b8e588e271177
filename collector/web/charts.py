"""Line charts as inline SVG, drawn on the server: no script, a few hundred bytes each."""

from __future__ import annotations

from html import escape

W, H = 320, 110  # viewBox units; the SVG scales to the screen's width
PAD_L, PAD_R, PAD_T, PAD_B = 34, 6, 8, 18
MAX_POINTS = 200  # the queries bucket to fewer; a longer series is thinned, never drawn whole

Point = tuple[int, float | None]  # epoch ms, value (None: a gap)


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


def line_chart(
    title: str, points: list[Point], start_ms: int, end_ms: int, low: float, high: float | None
) -> str:
    """An SVG chart of `points` over [start_ms, end_ms]; gaps break the line."""
    if len(points) > MAX_POINTS:
        step = -(-len(points) // MAX_POINTS)
        points = points[::step]
    values = [v for _, v in points if v is not None]
    top = high if high is not None else max([*values, low + 1.0])
    if top <= low:
        top = low + 1.0
    span_t = max(1, end_ms - start_ms)
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def xy(t: int, v: float) -> str:
        x = PAD_L + pw * (t - start_ms) / span_t
        y = PAD_T + ph * (1 - (min(max(v, low), top) - low) / (top - low))
        return f"{x:.1f},{y:.1f}"

    paths: list[str] = []
    run: list[str] = []
    for t, v in points:
        if v is None:
            if run:
                paths.append("M" + " L".join(run))
                run = []
            continue
        run.append(xy(t, v))
    if run:
        paths.append("M" + " L".join(run))
    lines = "".join(f'<path class="ln" d="{d}"/>' for d in paths)
    y0, y1 = PAD_T + ph, PAD_T
    axes = (
        f'<path class="ax" d="M{PAD_L},{y1} V{y0} H{W - PAD_R}"/>'
        f'<text x="{PAD_L - 3}" y="{y1 + 8}" class="r">{_fmt(top)}</text>'
        f'<text x="{PAD_L - 3}" y="{y0}" class="r">{_fmt(low)}</text>'
        f'<text x="{PAD_L}" y="{H - 4}">-48 h</text>'
        f'<text x="{W - PAD_R}" y="{H - 4}" class="r">0</text>'
    )
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">'
        f"{axes}{lines}</svg></figure>"
    )
