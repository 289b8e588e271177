"""Results of one run: each figure with its unit, the limit it is judged against, and the target."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(slots=True)
class Figure:
    """One measured figure; `ratio` is figure/limit measured in the same run."""

    name: str
    value: float
    unit: str
    limit_name: str = ""
    limit: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.limit is None or not self.limit:
            return None
        return self.value / self.limit


def fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def line(fig: Figure) -> str:
    """The one-line form printed as each figure is measured."""
    text = f"  {fig.name}: {fmt(fig.value)} {fig.unit}"
    if fig.ratio is not None:
        text += f"  = {fig.ratio:.2f}x {fig.limit_name}"
    if fig.target:
        verdict = "" if fig.ok is None else (" MET" if fig.ok else " MISSED")
        text += f"  (target {fig.target}{verdict})"
    if fig.note:
        text += f"  [{fig.note}]"
    return text


def table(figures: list[Figure]) -> str:
    """A Markdown table of every figure."""
    rows = [
        "| figure | value | ratio to limit | target |",
        "|---|---:|---|---|",
    ]
    for f in figures:
        ratio = f"{f.ratio:.2f}x {f.limit_name}" if f.ratio is not None else ""
        verdict = "" if f.ok is None else (" — met" if f.ok else " — **missed**")
        target = f"{f.target}{verdict}" if f.target else ""
        rows.append(f"| {f.name} | {fmt(f.value)} {f.unit} | {ratio} | {target} |")
    return "\n".join(rows)


def save_json(figures: list[Figure], path: Path, meta: dict[str, object]) -> None:
    data = {"meta": meta, "figures": [{**asdict(f), "ratio": f.ratio} for f in figures]}
    path.write_text(json.dumps(data, indent=2))
