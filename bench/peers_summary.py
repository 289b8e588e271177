"""The peer comparison over rounds: medians, ranges and medians of same-round ratios."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.collector_bench import E2E
from bench.nodered.e2e import PeerRun
from bench.report import fmt


@dataclass(slots=True)
class Round:
    """Broker limit, Node-RED and the collector (per worker count), measured back to back."""

    broker: float
    peer: PeerRun
    ours: dict[int, E2E] = field(default_factory=dict)


def _spread(values: list[float], unit: str = "", digits: str = "") -> str:
    """Median and unit, with the range when there is more than one value."""
    show: Callable[[float], str] = (lambda v: f"{v:{digits}}") if digits else fmt
    med = f"{show(statistics.median(values))}{unit}"
    if len(values) == 1:
        return med
    return f"{med} ({show(min(values))}–{show(max(values))})"


def _row(name: str, unit: str, values: list[float], *ratios: list[float] | None) -> str:
    cells = [name, _spread(values, f" {unit}")]
    cells += [_spread(r, "x", ".2f") if r else "" for r in ratios]
    return "| " + " | ".join(cells) + " |"


def table(rounds: list[Round], workers_list: list[int], label: str) -> str:
    """Markdown: each figure's median (range over rounds) and its same-round ratios."""
    n = len(rounds)
    peer_rate = [r.peer.rate for r in rounds]
    rows = [
        f"| figure | median{f' (range, {n} rounds)' if n > 1 else ''} | x broker | x Node-RED |",
        "|---|---:|---:|---:|",
        _row("broker QoS 1 -> C subscriber", "msg/s", [r.broker for r in rounds], None, None),
        _row(
            f"{label} e2e",
            "readings/s",
            peer_rate,
            [r.peer.rate / r.broker for r in rounds],
            None,
        ),
        _row(f"{label} peak RSS", "MB", [r.peer.peak_rss_mb for r in rounds], None, None),
    ]
    for w in workers_list:
        ours = [r.ours[w] for r in rounds]
        rows.append(
            _row(
                f"collector e2e, --workers {w}",
                "readings/s",
                [o.rate for o in ours],
                [o.rate / r.broker for o, r in zip(ours, rounds, strict=True)],
                [o.rate / r.peer.rate for o, r in zip(ours, rounds, strict=True)],
            )
        )
        rows.append(
            _row(
                f"collector peak RSS, --workers {w} (largest worker)",
                "MB",
                [max(o.peak_rss_mb) for o in ours],
                None,
                [
                    max(o.peak_rss_mb) / r.peer.peak_rss_mb
                    for o, r in zip(ours, rounds, strict=True)
                ],
            )
        )
    lost = sum(r.peer.lost for r in rounds)
    sent = sum(r.peer.sent for r in rounds)
    unwritten = [float(r.peer.sent - r.peer.written_at_ack) for r in rounds]
    rows += [
        "",
        f"Node-RED readings lost: {lost:,} of {sent:,}. Acknowledged to the publisher but not "
        f"yet in InfluxDB when the publisher had its last PUBACK: {_spread(unwritten)} of "
        f"{rounds[0].peer.sent:,} readings.",
    ]
    return "\n".join(rows)


def as_json(rounds: list[Round]) -> list[dict[str, Any]]:
    """The raw figures of every round."""
    return [
        {
            "broker_msg_s": r.broker,
            "nodered": {
                "rate": r.peer.rate,
                "sent": r.peer.sent,
                "landed": r.peer.landed,
                "written_at_last_puback": r.peer.written_at_ack,
                "peak_rss_mb": r.peer.peak_rss_mb,
                "cpu_s": r.peer.cpu_s,
                "error_lines": len(r.peer.errors),
            },
            "collector": {
                str(w): {"rate": e.rate, "peak_rss_mb": e.peak_rss_mb, "cpu_s": e.cpu_s}
                for w, e in r.ours.items()
            },
        }
        for r in rounds
    ]
