"""Spool benchmark: our segment format against SQLite, append + read + commit, same run.

`python -m bench.spool [--dir DIR] [--lines N] [--json FILE]`: for each batch size, both
spools take the same batches (~150-byte lines), fsync'd one by one, then replay them in
`replay_lines` chunks; the figure is lines/s and the ratio segment / SQLite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bench.sqlite_spool import SqliteSpool
from collector.store.spool import Chunk, Spool

BATCH_SIZES = (100, 1000, 5000)
REPLAY_LINES = 5000


class AnySpool(Protocol):
    def append(self, lines: list[str], readings: int) -> bool: ...
    def read_chunk(self, max_lines: int) -> Chunk | None: ...
    def commit(self, chunk: Chunk) -> None: ...


def line(i: int) -> str:
    """A collector-shaped solar point, about 150 bytes."""
    return (
        f"solar,device=mppt1,district=Pemba,station=ST{i % 1000:04d} battery_voltage_v=25.{i % 97},"
        f'battery_soc_pct=8{i % 10}.5,pv_power_w=1{i % 999}.0,charge_state="float" '
        f"{1_750_000_000_000 + i * 1000}"
    )


def run_one(
    make: Callable[[Path], AnySpool], where: Path, batch: int, total: int
) -> dict[str, float]:
    """Append `total` lines in batches of `batch`, then read and commit them all."""
    lines = [line(i) for i in range(batch)]
    spool = make(where)
    batches = max(1, total // batch)
    t0 = time.perf_counter()
    for _ in range(batches):
        assert spool.append(lines, batch)
    t1 = time.perf_counter()
    replayed = 0
    while (chunk := spool.read_chunk(REPLAY_LINES)) is not None:
        replayed += len(chunk.lines)
        spool.commit(chunk)
    t2 = time.perf_counter()
    assert replayed == batches * batch, (replayed, batches * batch)
    n = batches * batch
    return {
        "lines": n,
        "append_lines_per_s": n / (t1 - t0),
        "replay_lines_per_s": n / (t2 - t1),
        "total_lines_per_s": n / (t2 - t0),
    }


def median_run(
    make: Callable[[Path], AnySpool], where: Path, batch: int, total: int, repeat: int
) -> dict[str, float]:
    """The median of `repeat` runs, figure by figure (disks are noisy)."""
    runs = []
    for i in range(repeat):
        runs.append(run_one(make, where / str(i), batch, total))
        shutil.rmtree(where / str(i))
    return {k: sorted(r[k] for r in runs)[len(runs) // 2] for k in runs[0]}


def measure(base: Path, total: int, repeat: int = 3) -> list[dict[str, Any]]:
    spools: dict[str, Callable[[Path], AnySpool]] = {
        "segments": lambda d: Spool(d, 1 << 34, 16 * 1024**2),
        "sqlite": lambda d: SqliteSpool(d, 1 << 34),
    }
    rows = []
    for batch in BATCH_SIZES:
        row: dict[str, Any] = {"batch_lines": batch}
        for name, make in spools.items():
            row[name] = median_run(make, base / f"{name}-{batch}", batch, total, repeat)
        row["ratio_total"] = (
            row["segments"]["total_lines_per_s"] / row["sqlite"]["total_lines_per_s"]
        )
        row["ratio_append"] = (
            row["segments"]["append_lines_per_s"] / row["sqlite"]["append_lines_per_s"]
        )
        rows.append(row)
    return rows


def report(rows: list[dict[str, Any]]) -> str:
    out = [
        "| batch | segments append | SQLite append | segments replay | SQLite replay | "
        "append+replay ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s, q = r["segments"], r["sqlite"]
        out.append(
            f"| {r['batch_lines']:,} | {s['append_lines_per_s']:,.0f} "
            f"| {q['append_lines_per_s']:,.0f} | {s['replay_lines_per_s']:,.0f} "
            f"| {q['replay_lines_per_s']:,.0f} | {r['ratio_total']:.2f}x |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.spool", description=__doc__)
    ap.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp folder)"
    )
    ap.add_argument("--lines", type=int, default=50_000, help="lines per spool and batch size")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is kept)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="spool-bench-", dir=args.dir))
    try:
        rows = measure(base, args.lines, args.repeat)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"lines/s, median of {args.repeat} (~150-byte lines, each batch fsync'd);"
          " ratio = segments / SQLite")  # fmt: skip
    print(report(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
